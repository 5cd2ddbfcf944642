"""The pure, jitted GAN game: the state, the two players' moves in one update
step, objectives, gradient penalties, augmentation, packing, optimisers."""
