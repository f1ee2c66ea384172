"""Cross-check of the `nanda-grok` timing outside our Trainer: Nanda et al.'s training setup, line by line.

What it copies from their published training code (progress-measures-paper, transformers.py), on our
`Transformer` (whose one-layer forward is tested against a written-out reference in tests/test_transformer.py):
- tokens [a, b, =], vocab p + 1; logits over all p + 1 tokens (the '=' class included), W_U ~ N(0, 1/(p+1));
- every other weight N(0, 1/d_model), biases 0, no LayerNorm, ReLU MLP with biases;
- AdamW(lr 1e-3, weight decay 1.0 on every parameter, betas (0.9, 0.98)), LambdaLR min(t/10, 1);
- full batch on a random 30% of the p² pairs, cross-entropy on float64 log-softmax.

It logs train / test loss and test accuracy every `--every` steps to a jsonl file and prints the step where
the test loss first falls to ≤ 1/100 of its peak and where test accuracy first reaches 0.99 (the
`test_loss_collapse_step` and `test_acc_step` of `analyze`, computed by the same functions).

    python experiments/nanda_reference.py --seed 0 --steps 9000 --out nanda_ref_s0.jsonl
"""
from __future__ import annotations

import argparse
import json
import math
import time

import torch
from torch.nn.functional import cross_entropy

from fourier_circuits.analysis.curves import first_step_at, test_loss_collapse_step
from fourier_circuits.models.transformer import Transformer, TransformerConfig, tokenize_modadd
from fourier_circuits.tasks.modadd import ModularAddition


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=15000)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if args.steps < 1 or args.every < 1:
        ap.error(f"--steps and --every must be >= 1, got {args.steps}, {args.every}")
    torch.set_num_threads(args.threads)

    p = 113
    cfg = TransformerConfig(vocab=p + 1, n_ctx=3, n_classes=p + 1, op_token=False, seed=args.seed)
    model = Transformer(cfg)
    with torch.no_grad():  # their unembedding scale 1/sqrt(d_vocab) instead of our 1/sqrt(d_model)
        model.W_U.mul_(math.sqrt(cfg.d_model / cfg.n_classes))
    task = ModularAddition(p, 2)
    tokens, labels = tokenize_modadd(task.inputs(), p, op_token=False), task.labels()
    perm = torch.randperm(p * p, generator=torch.Generator().manual_seed(1000 + args.seed))
    train, test = perm[: int(0.3 * p * p)], perm[int(0.3 * p * p):]

    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1.0, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(step / 10, 1))
    rows, start = [], time.perf_counter()
    with open(args.out, "w") as f:
        for step in range(args.steps + 1):
            loss = cross_entropy(model(tokens[train]).double(), labels[train])
            if step % args.every == 0:
                with torch.no_grad():
                    logits = model(tokens[test]).double()
                row = dict(step=step, train_loss=loss.item(), test_loss=cross_entropy(logits, labels[test]).item(),
                           test_accuracy=(logits.argmax(1) == labels[test]).double().mean().item(),
                           seconds=round(time.perf_counter() - start, 1))
                rows.append(row)
                f.write(json.dumps(row) + "\n")
                f.flush()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    print(json.dumps(dict(seed=args.seed, collapse_step=test_loss_collapse_step(rows),
                          test_acc_step=first_step_at(rows, "test_accuracy"),
                          seconds=round(time.perf_counter() - start, 1))))


if __name__ == "__main__":
    main()
