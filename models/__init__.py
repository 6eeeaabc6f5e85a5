"""Keras functional model builders: demo nets now, the papers' nets with their reproductions."""

from models.demo import CustomNet, SimpleMLP

__all__ = ["CustomNet", "SimpleMLP"]
