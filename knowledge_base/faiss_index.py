"""FAISS index types by name: ``flat`` (exact inner product), ``hnsw``, ``ivf`` (trained); GPU when asked
for and available (faiss-gpu + CUDA)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from common.config import DenseIndexConfig
from common.registry import Registry

INDEXES: Registry = Registry("FAISS index type", field="kb.dense.index")


def gpu_available() -> bool:
    import faiss

    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


@INDEXES.register("flat")
def _flat(dim: int, cfg: DenseIndexConfig, n: int):
    import faiss

    return faiss.IndexFlatIP(dim)


@INDEXES.register("hnsw")
def _hnsw(dim: int, cfg: DenseIndexConfig, n: int):
    import faiss

    index = faiss.IndexHNSWFlat(dim, cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efSearch = cfg.hnsw_ef_search
    return index


@INDEXES.register("ivf")
def _ivf(dim: int, cfg: DenseIndexConfig, n: int):
    import faiss

    nlist = cfg.ivf_nlist or max(1, int(4 * math.sqrt(n)))
    nlist = min(nlist, max(1, n // 39))  # faiss wants ≥ 39 training points per list
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.nprobe = min(cfg.ivf_nprobe, nlist)
    return index


def build_index(vectors: np.ndarray, cfg: DenseIndexConfig):
    import faiss

    x = np.ascontiguousarray(vectors, dtype=np.float32)
    index = INDEXES.get(cfg.index)(x.shape[1], cfg, x.shape[0])
    use_gpu = cfg.gpu and cfg.index != "hnsw" and gpu_available()
    if use_gpu:  # pragma: no cover - needs a GPU
        res = faiss.StandardGpuResources()
        index = faiss.index_cpu_to_gpu(res, 0, index)
    if not index.is_trained:
        index.train(x)
    index.add(x)
    return faiss.index_gpu_to_cpu(index) if use_gpu else index


def save_index(index, path: Path) -> None:
    import faiss

    tmp = path.with_name(path.name + ".tmp")  # then renamed: a process with the old index mapped keeps reading it
    faiss.write_index(index, str(tmp))
    tmp.replace(path)


def load_index(path: Path, cfg: DenseIndexConfig | None = None):
    import faiss

    # the stored vectors of flat indexes (IndexFlatCodes, HNSW's storage too) stay memory-mapped, not read into memory
    flag = getattr(faiss, "IO_FLAG_MMAP_IFC", 0)
    try:
        index = faiss.read_index(str(path), flag)
    except RuntimeError:  # an index kind the flag does not apply to
        index = faiss.read_index(str(path))
    if cfg is not None:
        kind = type(index).__name__.lower()
        if cfg.index not in kind or (cfg.index == "flat" and ("hnsw" in kind or "ivf" in kind)):
            raise ValueError(f"{path} is a {type(index).__name__}, not the {cfg.index!r} index its config names")
        if cfg.index == "ivf":
            faiss.extract_index_ivf(index).nprobe = cfg.ivf_nprobe
        elif cfg.index == "hnsw":
            index.hnsw.efSearch = cfg.hnsw_ef_search
        if cfg.gpu and cfg.index != "hnsw" and gpu_available():  # pragma: no cover - needs a GPU
            index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    return index
