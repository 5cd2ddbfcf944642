"""Stacked MNIST's mode metrics (gan_jax/evaluation/stacked_modes.py): closed
forms of the KL to uniform and of its split into digit KLs and coupling."""
import numpy as np
import pytest

from gan_jax.evaluation import stacked_modes
from gan_jax.data import stacked_mnist as stacked_mnist_lib


def test_stacked_kl_splits_into_the_channels_digit_kls_and_their_coupling():
  every = np.arange(1000)
  uniform = stacked_modes.mode_metrics(every)
  assert uniform == pytest.approx(dict(
      modes_covered=1000, kl_to_uniform=0.0, kl_digits_r=0.0, kl_digits_g=0.0,
      kl_digits_b=0.0, total_correlation=0.0, mutual_info_rg=0.0, mutual_info_rb=0.0,
      mutual_info_gb=0.0), abs=1e-12)
  # The green digit is always 3, red and blue uniform: 100 modes, and all of
  # the KL, log 10, is the green channel's; nothing is coupled.
  green_3 = every[every // 10 % 10 == 3]
  one = stacked_modes.mode_metrics(green_3)
  assert one['modes_covered'] == 100
  assert one['kl_to_uniform'] == pytest.approx(np.log(10))
  assert one['kl_digits_g'] == pytest.approx(np.log(10))
  assert one['kl_digits_r'] == pytest.approx(0) and one['kl_digits_b'] == pytest.approx(0)
  assert one['total_correlation'] == pytest.approx(0, abs=1e-12)
  # The red digit always 7: the KL is the red channel's, not the blue one's.
  red_7 = stacked_modes.mode_metrics(700 + np.arange(100))
  assert red_7['kl_digits_r'] == pytest.approx(np.log(10))
  assert red_7['kl_digits_g'] == pytest.approx(0) and red_7['kl_digits_b'] == pytest.approx(0)
  # Three equal digits (000, 111, ...): every channel uniform, but coupled;
  # the KL, log 100, is all total correlation, and each pair shares log 10.
  coupled = stacked_modes.mode_metrics(np.arange(10) * 111)
  assert coupled['modes_covered'] == 10
  assert coupled['kl_to_uniform'] == pytest.approx(np.log(100))
  assert all(coupled[f'kl_digits_{c}'] == pytest.approx(0) for c in 'rgb')
  assert coupled['total_correlation'] == pytest.approx(np.log(100))
  assert all(coupled[f'mutual_info_{p}'] == pytest.approx(np.log(10)) for p in ('rg', 'rb', 'gb'))


def _modes(red, green, blue):
  return stacked_mnist_lib.stacked_mode_ids(np.stack([red, green, blue], axis=-1))


def test_stacked_coupling_names_the_coupled_channel_pair():
  r, g = np.divmod(np.arange(100), 10)
  # Red copies green; blue independent of both: only the red-green pair.
  red_is_green = stacked_modes.mode_metrics(_modes(np.repeat(g, 10), np.repeat(g, 10),
                                                   np.tile(np.arange(10), 100)))
  assert red_is_green['mutual_info_rg'] == pytest.approx(np.log(10))
  assert red_is_green['mutual_info_rb'] == pytest.approx(0, abs=1e-12)
  assert red_is_green['mutual_info_gb'] == pytest.approx(0, abs=1e-12)
  assert red_is_green['total_correlation'] == pytest.approx(np.log(10))
  # Blue copies green, red independent: only the green-blue pair.
  blue_is_green = stacked_modes.mode_metrics(_modes(np.tile(np.arange(10), 100),
                                                    np.repeat(g, 10), np.repeat(g, 10)))
  assert blue_is_green['mutual_info_gb'] == pytest.approx(np.log(10))
  assert blue_is_green['mutual_info_rg'] == pytest.approx(0, abs=1e-12)
  assert blue_is_green['mutual_info_rb'] == pytest.approx(0, abs=1e-12)
  # Blue = (red + green) mod 10: every pair independent, yet the triple
  # is coupled: total correlation log 10 with no pairwise information.
  three_way = stacked_modes.mode_metrics(_modes(r, g, (r + g) % 10))
  assert all(three_way[f'mutual_info_{p}'] == pytest.approx(0, abs=1e-12)
             for p in ('rg', 'rb', 'gb'))
  assert three_way['total_correlation'] == pytest.approx(np.log(10))


def test_stacked_kl_is_the_digit_kls_plus_the_total_correlation():
  # Any histogram: the split is exact, not an approximation.
  rng = np.random.default_rng(0)
  modes = rng.choice(1000, size=5000, p=rng.dirichlet(np.full(1000, 0.3)))
  split = stacked_modes.mode_metrics(modes)
  parts = sum(split[f'kl_digits_{c}'] for c in 'rgb') + split['total_correlation']
  assert split['kl_to_uniform'] == pytest.approx(parts, rel=1e-9)


def test_mode_metrics_refuses_modes_outside_the_thousand():
  with pytest.raises(ValueError, match=r'in \[0, 1000\), got 0 to 1000'):
    stacked_modes.mode_metrics(np.array([0, 1000]))
  with pytest.raises(ValueError, match='at least one mode'):
    stacked_modes.mode_metrics(np.array([], int))


class _ReadsTheMeanPixel:
  """A stand-in MNIST classifier: reads digit d from a channel whose pixels
  are all d / 5 - 1 (so 0..9 -> [-1, 0.8])."""

  def features_and_logits(self, images):
    assert images.shape[1:] == (28, 28, 1)
    digit = np.rint((images.mean(axis=(1, 2, 3)) + 1) * 5).astype(int)
    return None, np.eye(10)[digit]


def test_mode_ids_read_each_channel_with_the_classifier():
  digits = np.array([[3, 1, 4], [1, 5, 9], [0, 0, 0], [9, 9, 9]])
  images = np.broadcast_to((digits / 5 - 1)[:, None, None, :], (4, 28, 28, 3))
  np.testing.assert_array_equal(
      stacked_modes.mode_ids(_ReadsTheMeanPixel(), images), [314, 159, 0, 999])
