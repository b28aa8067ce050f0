"""Plots and reports built from logged metrics (matplotlib, Agg backend; nothing is shown on screen)."""
