"""Closed-loop simulation evaluation, the pretraining comparison, reports and plots."""
