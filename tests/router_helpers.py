"""Helpers shared by the router tests."""
from __future__ import annotations

import numpy as np


def assert_appended_columns_round_trip_and_weigh(model, router, questions, extra: int) -> None:
    """A router saved with ``extra`` columns after its morpheme vectors (the opt-in topic block, the topic
    student) and loaded again (``router``): its features carry them, it gives ``model``'s probabilities, and
    the columns carry weight (zeroed, the probabilities change)."""
    feats = router.features(questions)
    dim = router.features.vectors.dim
    assert all(f.embedding.shape == (dim + extra,) for f in feats)
    assert model.embedding_dim == dim + extra
    p = np.array(router.p_social(questions))
    np.testing.assert_allclose(p, model.predict_proba(feats), atol=1e-6)  # the file keeps float32 coefficients
    for f in feats:
        f.embedding = f.embedding.copy()
        f.embedding[dim:] = 0.0
    assert np.abs(model.predict_proba(feats) - p).max() > 1e-3


def use_small_families(monkeypatch, names: tuple[str, ...], n: int = 40) -> None:
    """Replace the family registry with ``names``, each capped at ``n`` rows (for quick leave-one-family-out runs)."""
    from router_training import families
    from router_training.families import base

    small = {}
    for name in names:
        fam = families.FAMILIES.get(name)
        small[name] = base.Family(name, fam.domain, fam.description, lambda root, f=fam: base.cap(f.load(root), n),
                                  fam.synthetic, fam.eval_only)
    monkeypatch.setattr(families.FAMILIES, "_items", small)
