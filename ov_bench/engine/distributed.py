"""Process-group context for sharded evaluation under ``accelerate launch`` / ``torchrun`` / MPI.

Only control traffic goes through torch.distributed (barriers and small broadcasts), always over
gloo, so it works on CPU-only machines and next to CUDA models alike. Data never crosses processes:
each rank writes its own results shard and rank 0 merges them.
"""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

_RANK_VARS = ("RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK")
_SIZE_VARS = ("WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE")
_LOCAL_RANK_VARS = ("LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID")


def _env_int(names: tuple[str, ...], default: int) -> int:
    for name in names:
        value = os.environ.get(name)
        if value not in (None, ""):
            return int(value)
    return default


def launched_world_size() -> int:
    """The process count the launcher set (torchrun / accelerate --multi_gpu, or MPI); 1 when none."""
    return _env_int(_SIZE_VARS, 1)


def launched_rank() -> int:
    return _env_int(_RANK_VARS, 0)


def launch_lost_processes() -> bool:
    """``accelerate launch --num_processes N`` (N > 1) that started one process: its plain launcher (with
    --cpu, or without --multi_gpu) needs MPI for more. accelerate sets MASTER_ADDR only when asked for
    several processes, and no launcher set a world size above 1."""
    launched_by_accelerate = "ACCELERATE_MIXED_PRECISION" in os.environ
    return launched_by_accelerate and "MASTER_ADDR" in os.environ and launched_world_size() <= 1


LOST_PROCESSES_HINT = (
    "use `accelerate launch --multi_gpu --num_processes N` (also on CPU-only machines: ov-bench forms a "
    "gloo group) or `torchrun --nproc_per_node N`"
)


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    _group: Any = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @classmethod
    def from_env(cls) -> DistContext:
        """Read the launcher's environment; join (or create) a gloo group when world size > 1."""
        world = launched_world_size()
        rank = _env_int(_RANK_VARS, 0)
        local = _env_int(_LOCAL_RANK_VARS, rank)
        if world <= 1:
            if launch_lost_processes():
                log.warning(
                    "accelerate launch started a single process where --num_processes asked for more (its "
                    "plain launcher needs MPI for that); %s to shard",
                    LOST_PROCESSES_HINT,
                )
            return cls()
        import torch.distributed as dist

        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", "29500")
        # Ranks meet at a barrier after their shards, which may differ in length by hours on big
        # models: the default 30-minute collective timeout would kill a healthy run.
        timeout = datetime.timedelta(seconds=float(os.environ.get("OV_BENCH_DIST_TIMEOUT_S", 7 * 24 * 3600)))
        if dist.is_initialized():
            group = dist.new_group(backend="gloo", timeout=timeout)
        else:
            dist.init_process_group(backend="gloo", rank=rank, world_size=world, timeout=timeout)
            group = dist.group.WORLD
        return cls(rank=rank, world_size=world, local_rank=local, _group=group)

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier(group=self._group)

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if not self.distributed:
            return obj
        import torch.distributed as dist

        box = [obj if self.is_main else None]
        dist.broadcast_object_list(box, src=0, group=self._group)
        return box[0]

    def shutdown(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
