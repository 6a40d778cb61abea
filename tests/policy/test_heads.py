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


def test_pools_ignore_padding_tokens():
    from vla.policy.heads import AttentionPool, MeanPool

    hidden, mask = torch.randn(2, 6, 16), torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]])
    changed = hidden.clone()
    changed[0, 4:] += 100.0  # only padding of the first row changes
    for pool in (MeanPool(16), AttentionPool(16, n_queries=3)):
        a, b = pool(hidden, mask), pool(changed, mask)
        assert a.shape == (2, pool.out_dim)
        assert torch.allclose(a, b, atol=1e-5)


def test_attention_pool_keeps_where_a_token_is_and_mean_pool_does_not():
    # Two inputs with the same tokens in another order: a mean cannot tell them apart, the queries can
    # (they see the token states, which in the backbone carry position embeddings: `pos` here).
    from vla.policy.heads import AttentionPool, MeanPool

    torch.manual_seed(0)
    tokens = torch.randn(1, 4, 16)
    pos = torch.randn(1, 4, 16)
    a, b = tokens + pos, tokens.flip(1) + pos
    mask = torch.ones(1, 4)
    pool = AttentionPool(16)
    assert not torch.allclose(pool(a, mask), pool(b, mask))
    assert torch.allclose(MeanPool(16)(tokens, mask), MeanPool(16)(tokens.flip(1), mask))


def test_random_shift_moves_images_by_at_most_pad_pixels():
    from vla.policy.modeling_vla import random_shift

    torch.manual_seed(0)
    x = torch.zeros(8, 1, 3, 16, 16)
    x[:, :, :, 8, 8] = 1.0  # one bright pixel in the middle
    y = random_shift(x, 2)
    assert y.shape == x.shape
    where = [divmod(int(img[0].argmax()), 16) for img in y[:, 0]]
    assert all(abs(r - 8) <= 2 and abs(c - 8) <= 2 for r, c in where)
    assert len(set(where)) > 1  # the shift is random per image



def test_the_action_head_reads_the_latent_prediction_only_when_asked(backbone_dir):
    from vla.policy.configuration_vla import VLAConfig
    from vla.policy.modeling_vla import VLAPolicy

    batch = {"observation.image": torch.zeros(2, 32, 32, 3, dtype=torch.uint8), "observation.state": torch.zeros(2, 4),
             "task": ["reach the goal"] * 2}
    for reads in (False, True):
        torch.manual_seed(0)
        policy = VLAPolicy.from_backbone(VLAConfig(action_reads_pretrain_head=reads, max_text_tokens=8),
                                         backbone_dir).eval()
        before = policy.predict_action_chunk(batch)
        with torch.no_grad():
            policy.latent_head.net[-1].bias.add_(5.0 * torch.randn_like(policy.latent_head.net[-1].bias))
        changed = not torch.allclose(before, policy.predict_action_chunk(batch))
        assert changed == reads
