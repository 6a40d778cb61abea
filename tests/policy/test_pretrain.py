import numpy as np

from vla.policy.modeling_vla import VLAPolicy
from vla.data.labelled_frames import load_labelled_frames
from vla.policy.pretrain import majority_accuracy, pretrain
from policy_support import tiny_policy_cfg, tiny_train_cfg


def _mean(xs):
    return float(np.mean(xs))


def test_latent_pretraining_loss_decreases(latent_pretrain):
    _, m = latent_pretrain
    losses = [h["loss"] for h in m["history"]]
    assert _mean(losses[-5:]) < 0.7 * _mean(losses[:5])


def test_latent_pretraining_beats_most_frequent_code(latent_pretrain):
    _, m = latent_pretrain
    last = m["evals"][-1]
    assert last["eval_acc"] > last["majority_acc"] + 0.15, last


def test_majority_baseline_is_the_mode():
    train = np.array([[1, 2], [1, 3], [0, 3]])
    assert majority_accuracy(train, np.array([[1, 3], [0, 2]])) == 0.5


def test_pretrained_checkpoint_reloads_with_label_shapes(latent_pretrain, store_url):
    out, _ = latent_pretrain
    policy = VLAPolicy.from_pretrained(out / "model")
    attrs = load_labelled_frames(store_url, "latent").label_attrs
    assert (policy.config.n_tokens, policy.config.codebook_size) == (attrs["n_tokens"], attrs["codebook_size"])


def test_idm_target_regresses_pseudo_actions(tmp_path, backbone_dir, store_url):
    m = pretrain(tiny_policy_cfg(pretrain_target="idm"), tiny_train_cfg(steps=10, eval_every=10), store_url,
                 tmp_path, backbone_dir, max_videos=2)
    losses = [h["loss"] for h in m["history"]]
    assert m["target"] == "idm" and "idm_mse" in m["history"][0]
    assert _mean(losses[-3:]) < _mean(losses[:3])
    assert VLAPolicy.from_pretrained(tmp_path / "model").pseudo_action_dim == 4  # the store's pseudo-actions
