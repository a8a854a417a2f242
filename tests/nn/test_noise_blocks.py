"""`ica.training.noise.NoiseBlocks`: many steps' noise per draw, exactly the numbers drawn step by step,
and generator states in checkpoints as if drawn step by step."""

from __future__ import annotations

import torch

from ica.training.noise import NoiseBlocks


def _generators(n=3):
    return [torch.Generator().manual_seed(10 + i) for i in range(n)]


def test_blocks_give_the_step_by_step_numbers_and_states():
    shape = (64, 5)
    blocks = NoiseBlocks.create(_generators(), shape, torch.device("cpu"))
    assert blocks is not None and blocks.steps > 2
    reference = _generators()
    for step in range(2 * blocks.steps + 3):  # across block boundaries
        expected = torch.stack([torch.randn(shape, generator=g) for g in reference])
        assert torch.equal(blocks.next(), expected), step
        for got, g in zip(blocks.states(), reference):
            assert torch.equal(got, g.get_state()), step


def test_a_restart_from_saved_states_goes_on_identically():
    shape = (16,)
    blocks = NoiseBlocks.create(_generators(), shape, torch.device("cpu"))
    for _ in range(5):
        blocks.next()
    saved = blocks.states()
    after = [blocks.next() for _ in range(blocks.steps)]
    resumed = NoiseBlocks.create(_generators(), shape, torch.device("cpu"))
    for g, st in zip(resumed.generators, saved):
        g.set_state(st)
    resumed.restart()
    for expected in after:
        assert torch.equal(resumed.next(), expected)


def test_no_blocks_where_a_block_would_give_other_numbers():
    cpu = torch.device("cpu")
    assert NoiseBlocks.create(_generators(), (7, 5), cpu) is None  # not a multiple of 16 numbers
    assert NoiseBlocks.create(_generators(), None, cpu) is None
    assert NoiseBlocks.create(_generators(), (64, 5), torch.device("cuda")) is None
