import numpy as np
import pytest
import torch

from vla.data.lerobot_io import load_chunks
from vla.policy.modeling_vla import VLAPolicy
from vla.runtime import ActionQueue, ChunkPolicy, PolicyRunner, TemporalEnsembler


@pytest.fixture(scope="module")
def runner(finetuned_dir):
    r = PolicyRunner(finetuned_dir, device="cpu")
    r.warmup(1)
    return r


@pytest.fixture(scope="module")
def frames(teleop_root):
    return load_chunks(teleop_root, chunk_size=4, demos_per_task=1)


def _obs(data, i):
    return {"image": data.images["observation.image"][i], "state": data.states[i], "instruction": data.instructions[i]}


def test_runner_matches_the_training_time_forward(runner, finetuned_dir, frames):
    """Stage 3's batch through the saved processors and the network, as training saw it, is what the runner gives."""
    from lerobot.policies.factory import make_pre_post_processors

    from vla.policy.finetune import make_batch

    policy = VLAPolicy.from_pretrained(finetuned_dir).eval()
    pre, post = make_pre_post_processors(policy.config, pretrained_path=str(finetuned_dir))
    rows = np.array([0, 7, 19])
    expected = post(policy.predict_action_chunk(pre(make_batch(frames, rows)))).numpy()
    got = np.stack([runner.predict_chunk(_obs(frames, i)) for i in rows])
    assert got.dtype == np.float32 and got.shape == (3, runner.chunk_size, runner.action_dim)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_runner_resizes_any_image_size(runner, frames):
    obs = _obs(frames, 3)
    big = dict(obs, image=np.kron(obs["image"], np.ones((3, 3, 1), np.uint8)))  # 192 px, same content
    a, b = runner.predict_chunk(obs), runner.predict_chunk(big)
    assert a.shape == b.shape and np.abs(a - b).max() < 0.5 * (np.abs(a).max() + 1e-3)


def test_select_action_pops_the_chunk_then_refills(runner, frames):
    runner.reset()
    chunk = runner.predict_chunk(_obs(frames, 0))
    popped = [runner.select_action(_obs(frames, 0)) for _ in range(runner.chunk_size)]
    np.testing.assert_array_equal(np.stack(popped), chunk)
    assert len(runner.queue) == 0
    runner.select_action(_obs(frames, 5))  # empty queue -> a new chunk from the new observation
    assert len(runner.queue) == runner.chunk_size - 1
    runner.reset()
    assert len(runner.queue) == 0


def test_bad_observations_are_refused(runner, frames):
    obs = _obs(frames, 0)
    with pytest.raises(ValueError, match="state"):
        runner.predict_chunk(dict(obs, state=np.zeros(7, np.float32)))
    with pytest.raises(ValueError, match="uint8"):
        runner.predict_chunk(dict(obs, image=obs["image"].astype(np.float32)))
    with pytest.raises(KeyError, match="instruction"):
        runner.predict_chunk({"image": obs["image"], "state": obs["state"]})


def test_runner_satisfies_the_chunk_policy_protocol(runner):
    assert isinstance(runner, ChunkPolicy)
    assert (runner.action_dim, runner.chunk_size, runner.state_dim) == (4, 4, 4)


def test_device_auto_picks_cpu_without_cuda(finetuned_dir):
    if torch.cuda.is_available():
        assert PolicyRunner(finetuned_dir).device.type == "cuda"
    else:
        assert PolicyRunner(finetuned_dir).device.type == "cpu"


def test_action_queue_is_fifo():
    q = ActionQueue()
    q.extend(np.arange(6, dtype=np.float32).reshape(3, 2))
    assert q.pop().tolist() == [0, 1] and len(q) == 2
    q.clear()
    assert q.pop() is None


def test_temporal_ensembler_averages_overlapping_predictions():
    ens = TemporalEnsembler(chunk_size=2, coeff=0.0)
    assert ens.update(np.array([[1.0], [3.0]])).tolist() == [1.0]
    # step 1 was predicted as 3 by the first chunk and 5 by the second: equal weights -> 4
    assert ens.update(np.array([[5.0], [7.0]])).tolist() == [4.0]


@pytest.mark.parametrize("dtype, torch_dtype", [("bfloat16", torch.bfloat16), ("float16", torch.float16)])
def test_reduced_precision_runs_on_cpu_with_finite_actions(runner, finetuned_dir, frames, dtype, torch_dtype):
    """The dtype plumbing, on CPU: autocast in the given dtype, float32 actions of the same shape, close to
    float32's (the tiny policy's actions are O(1); bf16 keeps ~3 significant digits)."""
    low = PolicyRunner(finetuned_dir, device="cpu", dtype=dtype)
    assert low.autocast_dtype is torch_dtype
    obs = _obs(frames, 2)
    chunk, reference = low.predict_chunk(obs), runner.predict_chunk(obs)
    assert chunk.dtype == np.float32 and chunk.shape == (low.chunk_size, low.action_dim)
    assert np.all(np.isfinite(chunk))
    np.testing.assert_allclose(chunk, reference, atol=0.1 * (np.abs(reference).max() + 1.0))


def test_a_bad_dtype_is_one_clear_error(finetuned_dir):
    with pytest.raises(ValueError, match=r"^PolicyRunner dtype must be one of \[.*'bfloat16'.*\] or None, got 'fp8'$"):
        PolicyRunner(finetuned_dir, device="cpu", dtype="fp8")


@pytest.mark.slow
def test_warmup_compiles_for_any_instruction_and_image(finetuned_dir, frames):
    """With compile, warm-up sees two instruction lengths, so torch.compile makes the text length dynamic
    there: real observations with other instructions, images at other sizes, or an image that is a view in
    another memory layout (the dataset's is channels-first underneath) compile nothing (on CPU the first
    real one took 15 s)."""
    from torch._dynamo.utils import counters

    compiled = PolicyRunner(finetuned_dir, device="cpu", dtype="bfloat16", compile=True)
    compiled.warmup()
    graphs = counters["stats"]["unique_graphs"]
    own = compiled.policy.config.image_size
    images = [_obs(frames, 1)["image"], np.full((3 * own, 3 * own, 3), 90, np.uint8),
              np.full((own + 8, own + 8, 3), 90, np.uint8)]
    for image, instruction in zip(images, ("push the puck to the goal and stop there", "reach", "open the drawer")):
        chunk = compiled.predict_chunk(dict(_obs(frames, 1), image=image, instruction=instruction))
        assert np.all(np.isfinite(chunk)) and chunk.shape == (compiled.chunk_size, compiled.action_dim)
    assert counters["stats"]["unique_graphs"] == graphs, "a real observation compiled again"
