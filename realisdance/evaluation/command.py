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
