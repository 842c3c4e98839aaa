"""Built-in dataset plugins: readers of the published files and procedural renderers."""
