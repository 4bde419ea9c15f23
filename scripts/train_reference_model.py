"""Train the built-in ``reference`` model on the shapes benchmark and export its weights (float16 .npz).

    python scripts/train_reference_model.py   # 15-30 min on 2 CPU cores; the shipped file, byte for byte

Training data comes from the same generator as the benchmark but with other seeds (1000 + epoch,
a fresh set every epoch), so the default evaluation (seed 0) is never trained on. The network
defined here is the one ``mmlens.models.reference.ReferenceNetwork`` runs in numpy; the two must
change together (tests/test_reference_model.py checks that they agree).
"""

from __future__ import annotations

import argparse
import math
import string
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from mmlens.core.options import LETTERS
from mmlens.core.sample import Sample
from mmlens.models.reference import (
    BUILTIN_WEIGHTS,
    MAX_WORDS,
    PAD_WORD,
    ReferenceNetwork,
    image_pixels,
    parse_question,
)
from mmlens.tasks.shapes.scenario import COLOURS, FAMILIES, make_sample

ANSWERS = ["yes", "no", "1", "2", "3", "4", *COLOURS, *string.ascii_uppercase]
EMBED_DIM = 16
QUESTION_DIM = 128
HIDDEN_DIM = 256
VALIDATION_SEED = 999
NORMED = {"conv1": 16, "conv2": 32, "conv3": 64, "conv4": 64, "reduce": 16}


class ReferenceTorchNet(nn.Module):
    """Small CNN over the 64x64 image, FiLM-conditioned on a position-aware question encoding."""

    def __init__(self, n_words: int, n_answers: int, batch_norm: bool = True) -> None:
        super().__init__()
        self.embed = nn.Embedding(n_words, EMBED_DIM)
        self.question = nn.Linear(MAX_WORDS * EMBED_DIM, QUESTION_DIM)
        self.conv1 = nn.Conv2d(3, 16, 4, stride=2, padding=1)  # 32x32
        self.conv2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)  # 16x16
        self.conv3 = nn.Conv2d(32, 64, 3, stride=2, padding=1)  # 8x8
        self.conv4 = nn.Conv2d(64, 64, 3, stride=1, padding=1)
        self.reduce = nn.Conv2d(64, 16, 1)
        # Batch norm only speeds up training; export folds it into the convolutions before it.
        self.norms = nn.ModuleDict(
            {name: nn.BatchNorm2d(size) if batch_norm else nn.Identity() for name, size in NORMED.items()}
        )
        self.film1 = nn.Linear(QUESTION_DIM, 2 * 64)
        self.film2 = nn.Linear(QUESTION_DIM, 2 * 64)
        self.hidden = nn.Linear(16 * 8 * 8 + QUESTION_DIM, HIDDEN_DIM)
        self.out = nn.Linear(HIDDEN_DIM, n_answers)
        for film in (self.film1, self.film2):  # start as the identity modulation
            nn.init.zeros_(film.weight)
            nn.init.zeros_(film.bias)

    def conv(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return self.norms[name](getattr(self, name)(x))

    @staticmethod
    def _modulate(x: torch.Tensor, film: nn.Linear, question: torch.Tensor) -> torch.Tensor:
        gamma, beta = film(question).chunk(2, dim=1)
        return x * (1 + gamma[:, :, None, None]) + beta[:, :, None, None]

    def forward(self, images: torch.Tensor, word_ids: torch.Tensor) -> torch.Tensor:
        question = F.relu(self.question(self.embed(word_ids).flatten(1)))
        x = 1.0 - images.permute(0, 3, 1, 2).float() / 255.0  # white background -> 0
        x = F.relu(self.conv("conv1", x))
        x = F.relu(self.conv("conv2", x))
        x = F.relu(self._modulate(self.conv("conv3", x), self.film1, question))
        x = F.relu(self._modulate(self.conv("conv4", x), self.film2, question))
        x = F.relu(self.conv("reduce", x))
        hidden = F.relu(self.hidden(torch.cat([x.flatten(1), question], dim=1)))
        return self.out(hidden)


def answer_text(sample: Sample) -> str:
    if sample.choices and sample.target:
        return sample.choices[LETTERS.index(sample.target)]
    return str(sample.target)


def build_vocabulary(seed: int, size: int = 2000) -> list[str]:
    words = {w for i in range(size) for w in parse_question(make_sample(seed, i).question).words}
    return [PAD_WORD, *sorted(words)]


def make_batch(
    seed: int, size: int, words: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[Sample]]:
    """Images, word ids, answer ids and the allowed answers (the options, or yes/no) of ``size`` samples."""
    word_index = {w: i for i, w in enumerate(words)}
    answer_index = {a.lower(): i for i, a in enumerate(ANSWERS)}
    samples = [make_sample(seed, i) for i in range(size)]
    images = np.stack([image_pixels(s.images[0].pil()) for s in samples])
    ids = np.zeros((size, MAX_WORDS), dtype=np.int64)
    allowed = np.zeros((size, len(ANSWERS)), dtype=bool)
    for row, sample in enumerate(samples):
        parsed = parse_question(sample.question)
        ids[row, : len(parsed.words)] = [word_index[w] for w in parsed.words]
        options = [text for _, text in parsed.options] or ["yes", "no"]
        allowed[row, [answer_index[o.lower()] for o in options]] = True
    targets = np.array([answer_index[answer_text(s).lower()] for s in samples], dtype=np.int64)
    return images, ids, targets, allowed, samples


def folded_state(model: ReferenceTorchNet) -> dict[str, torch.Tensor]:
    """The parameters with each batch norm (in eval mode) folded into its convolution."""
    state = {k: v.detach().clone() for k, v in model.state_dict().items() if not k.startswith("norms.")}
    for name in NORMED:
        norm = model.norms[name]
        assert isinstance(norm, nn.BatchNorm2d)
        assert norm.running_var is not None and norm.running_mean is not None
        scale = norm.weight.detach() / torch.sqrt(norm.running_var + norm.eps)
        state[f"{name}.weight"] = state[f"{name}.weight"] * scale[:, None, None, None]
        state[f"{name}.bias"] = (state[f"{name}.bias"] - norm.running_mean) * scale + norm.bias.detach()
    return state


def export(model: ReferenceTorchNet, words: list[str], path: Path, check: tuple) -> None:
    model.eval()
    state = folded_state(model)
    folded = ReferenceTorchNet(len(words), len(ANSWERS), batch_norm=False).eval()
    folded.load_state_dict(state)
    images, ids = torch.from_numpy(check[0][:256]), torch.from_numpy(check[1][:256])
    with torch.no_grad():
        torch.testing.assert_close(folded(images, ids), model(images, ids), atol=1e-3, rtol=1e-3)
    arrays: dict[str, np.ndarray] = {
        name: tensor.numpy().astype(np.float16) for name, tensor in state.items()
    }
    arrays["words"] = np.array(words)
    arrays["answers"] = np.array(ANSWERS)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)  # type: ignore[arg-type]


def load_torch_net(path: Path) -> tuple[ReferenceTorchNet, ReferenceNetwork]:
    """The exported weights in the torch network (float16 values, as numpy inference sees them)."""
    network = ReferenceNetwork.load(path)
    model = ReferenceTorchNet(len(network.words), len(network.answers), batch_norm=False)
    model.load_state_dict({name: torch.from_numpy(value) for name, value in network.params.items()})
    return model.eval(), network


def family_accuracy(model: ReferenceTorchNet, data: tuple) -> dict[str, float]:
    images, ids, targets, allowed, samples = data
    with torch.no_grad():
        logits = model(torch.from_numpy(images), torch.from_numpy(ids))
    predictions = logits.masked_fill(~torch.from_numpy(allowed), -math.inf).argmax(1).numpy()
    hits: dict[str, list[bool]] = defaultdict(list)
    for sample, prediction, target in zip(samples, predictions, targets, strict=True):
        hits[sample.metadata["family"]].append(bool(prediction == target))
    result = {family: float(np.mean(hits[family])) for family in FAMILIES}
    result["overall"] = float(np.mean([h for values in hits.values() for h in values]))
    return result


def train(epochs: int, samples_per_epoch: int, batch_size: int, learning_rate: float, seed: int) -> tuple:
    torch.manual_seed(seed)
    words = build_vocabulary(seed=1000)
    model = ReferenceTorchNet(len(words), len(ANSWERS))
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=1e-4)
    steps_per_epoch = samples_per_epoch // batch_size
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=learning_rate, total_steps=epochs * steps_per_epoch, pct_start=0.15
    )
    validation = make_batch(VALIDATION_SEED, 2000, words)
    generator = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        started = time.perf_counter()
        images, ids, targets, allowed, _ = make_batch(1000 + epoch, samples_per_epoch, words)
        images_t, ids_t, targets_t = map(torch.from_numpy, (images, ids, targets))
        allowed_t = torch.from_numpy(allowed)
        order = torch.randperm(samples_per_epoch, generator=generator)
        model.train()
        total = 0.0
        for step in range(steps_per_epoch):
            rows = order[step * batch_size : (step + 1) * batch_size]
            logits = model(images_t[rows], ids_t[rows])
            # The full answer vocabulary for open answers, plus the loss among the options only.
            loss = F.cross_entropy(logits, targets_t[rows]) + F.cross_entropy(
                logits.masked_fill(~allowed_t[rows], -1e4), targets_t[rows]
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item()
        model.eval()
        scores = family_accuracy(model, validation)
        print(
            f"epoch {epoch + 1}/{epochs}: loss {total / steps_per_epoch:.3f}, "
            f"validation {' '.join(f'{k} {v:.3f}' for k, v in scores.items())} "
            f"({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    return model, words, validation


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=BUILTIN_WEIGHTS)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--samples-per-epoch", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    model, words, validation = train(
        args.epochs, args.samples_per_epoch, args.batch_size, args.learning_rate, args.seed
    )
    export(model, words, args.out, validation)
    elapsed = time.perf_counter() - started
    print(f"trained in {elapsed:.0f} s; wrote {args.out} ({args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
