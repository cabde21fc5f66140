"""Model compression with synthetic data only: knowledge distillation and pruning, and the
toy comparison of synthesis methods by the students they train."""
