"""``cheaptalk datasets list|fetch``: public data sets, fetched on demand and checked by sha256."""

from __future__ import annotations

from .common import dump_json


def register(sub):
    p = sub.add_parser("datasets", help="list and fetch public lab data sets",
                       description="Public data sets that other people collected, each pinned to a public "
                                   "address at a fixed commit and checked by sha256. Downloads are cached in "
                                   "$CHEAPTALK_DATA_DIR (default: the user's cache folder); "
                                   "CHEAPTALK_DATA_MIRROR=DIR reads DIR/NAME/FILE instead of the network. "
                                   "Use one with `cheaptalk compare --dataset NAME`.")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    listing = verbs.add_parser("list", help="the known data sets, with source, licence and citation")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=run_list)
    fetch = verbs.add_parser("fetch", help="download (or find in the cache or mirror) and print the local path")
    fetch.add_argument("name", help="data set name (see `cheaptalk datasets list`); NAME:PART for one file of "
                                    "a data set with several")
    fetch.set_defaults(func=run_fetch)


def run_list(args) -> int:
    from ..datasets.public import list_datasets

    entries = list_datasets()
    if args.json:
        dump_json([d.to_dict() for d in entries])
        return 0
    for d in entries:
        sums = d.sha256 or "; ".join(f"{p['name']} ({p['file']}) {p['sha256']}" for p in d.files)
        print(f"{d.name}: {d.title}\n  {d.description}\n  source:   {d.source}\n  sha256:   {sums}\n"
              f"  licence:  {d.licence}\n  cite:     {d.citation}\n")
    return 0


def run_fetch(args) -> int:
    from ..datasets.public import fetch_dataset

    print(fetch_dataset(args.name))
    return 0
