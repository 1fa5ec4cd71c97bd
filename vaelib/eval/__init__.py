"""Evaluation tools beyond the test metrics of vaelib.metrics: what the notebooks use to judge
trained models.

- `classifier`: a small MNIST classifier (its features feed the Fréchet distance, its labels
  the sample-quality checks), cached like a model;
- `frechet`: the Fréchet distance between feature distributions (FID with MNIST features);
- `probe`: linear probes that read labels from latent codes;
- `anomaly`: out-of-distribution scores (ELBO, reconstruction error) and their ROC AUC;
- `latent`: interpolation, latent grids and traversals;
- `plots`: image grids, training curves and 2-D latent scatters.
"""
