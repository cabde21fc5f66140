"""The classifier trainer (Bag of Tricks, He et al. 2019): train or fine-tune on folders."""
