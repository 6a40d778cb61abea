import torch

from vla.policy.heads import ActionChunkHead, LatentActionHead, PseudoActionHead


def test_head_output_shapes():
    feats, state = torch.randn(5, 128), torch.randn(5, 4)
    assert LatentActionHead(128, n_tokens=4, codebook_size=8, hidden=32)(feats).shape == (5, 4, 8)
    assert PseudoActionHead(128, action_dim=4, hidden=32)(feats).shape == (5, 4)
    assert ActionChunkHead(128, state_dim=4, chunk_size=6, action_dim=4, hidden=32)(feats, state).shape == (5, 6, 4)


def test_action_head_uses_the_state():
    head = ActionChunkHead(16, state_dim=4, chunk_size=2, action_dim=4, hidden=8)
    feats = torch.zeros(1, 16)
    assert not torch.allclose(head(feats, torch.zeros(1, 4)), head(feats, torch.ones(1, 4)))
