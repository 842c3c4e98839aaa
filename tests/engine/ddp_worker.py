"""One rank of the DDP test: ``torchrun --standalone --nproc_per_node 2 ddp_worker.py OUT``
(the test sets torchrun's variables itself and starts the ranks directly).

Ranks start from DIFFERENT initial weights (DDP must broadcast rank 0's), each trains on its
half of every global batch (with gradient accumulation), and each writes its final weights to
``OUT/rank<r>.safetensors`` for the test to compare. Run files go to ``OUT/run``, from rank 0.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from engine_toys import RegressionBatches, make_model, make_run, make_step_fn
from safetensors.torch import save_file

from disdiff_core.engine.config import TrainConfig
from disdiff_core.engine.distributed import distributed_session
from disdiff_core.engine.trainer import Trainer

#: Shared with the single-process reference in test_engine_ddp.py.
SETTINGS = {"steps": 6, "batch_size": 16, "grad_accum": 2, "lr": 1e-2, "warmup_steps": 2,
            "grad_clip": 1.0, "ema_decay": 0.9, "log_every": 2, "checkpoint_every": 3, "seed": 3}


def main(out: Path) -> None:
    with distributed_session("cpu") as context:
        config = TrainConfig(**SETTINGS)
        per_rank_parts = config.grad_accum
        data = RegressionBatches(
            config.batch_size, parts=context.world_size * per_rank_parts,
            my_parts=range(context.rank * per_rank_parts, (context.rank + 1) * per_rank_parts))
        model = make_model(seed=100 + context.rank)
        run = make_run(out / "run") if context.is_main else None
        context.barrier()
        run = run or make_run(out / "run")
        trainer = Trainer(model, make_step_fn(model), data, config, run, context=context,
                          stream=sys.stdout if context.is_main else io.StringIO())
        trainer.fit()
        save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                  str(out / f"rank{context.rank}.safetensors"))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
