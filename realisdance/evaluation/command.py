"""``python -m realisdance evaluate``: score generated videos against the real ones (``scoring.py``)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_evaluate_parser(commands, shown: dict) -> None:
    evaluate = commands.add_parser(
        "evaluate", help="score generated videos against real ones: PSNR, SSIM, and LPIPS / FID / FVD", **shown
    )
    evaluate.add_argument("--pred", type=Path, required=True, help="folder of generated <id>.mp4")
    evaluate.add_argument("--gt", type=Path, required=True, help="folder of the real <id>.mp4 (same names and sizes)")
    evaluate.add_argument("--lpips-network", type=Path, default=None, help="TorchScript LPIPS: (x, y) -> distances")
    evaluate.add_argument("--fid-network", type=Path, default=None, help="TorchScript image features (Inception)")
    evaluate.add_argument("--fvd-network", type=Path, default=None, help="TorchScript clip features (I3D)")
    evaluate.add_argument("--out", type=Path, default=None, help="also write the scores as JSON here")


def add_prepare_parser(commands, shown: dict) -> None:
    prepare = commands.add_parser(
        "eval-prepare", help="cut real clips and their pose renders to an evaluation protocol (TikTok, UBC, Val)",
        **shown,
    )  # fmt: skip
    prepare.add_argument("protocol", choices=("tiktok", "ubc", "realisdance-val"))
    prepare.add_argument("--data", type=Path, required=True, help="video/<id>.mp4 with smpl/ and hamer/ renders")
    prepare.add_argument("--out", type=Path, required=True, help="writes ref/ smpl/ hamer/ prompt/ and gt/ here")


def prepare_command(args: argparse.Namespace) -> None:
    from .protocols import PROTOCOLS, prepare

    names = prepare(args.protocol, args.data, args.out)
    protocol = PROTOCOLS[args.protocol]
    frames = 25 if protocol.stride is not None else 81
    area = protocol.long_side * protocol.short_side
    print(f"{len(names)} clips cut to the {args.protocol} protocol in {args.out}; next:\n"
          f"  realisdance animate --model MODEL --root {args.out} --out-dir {args.out / 'pred'} --frames {frames} "
          f"--max-area {area}\n"
          f"  realisdance evaluate --pred {args.out / 'pred'} --gt {args.out / 'gt'}")  # fmt: skip


def evaluate_command(args: argparse.Namespace) -> None:
    from ..errors import InputError
    from .scoring import ScoringNetworks, score

    for option, folder in (("--pred", args.pred), ("--gt", args.gt)):
        if not folder.is_dir():
            raise InputError(f"{option} {folder} is not a folder")
    scores = score(args.pred, args.gt, ScoringNetworks(args.fid_network, args.fvd_network, args.lpips_network))
    print(scores.table())
    if args.out is not None:
        scores.save(args.out)
        print(f"scores written to {args.out}")
