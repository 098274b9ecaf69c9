"""Neural-network building blocks (``import minigan.nn as nn``): Module, Parameter and the layers."""

from minigan.nn import init
from minigan.nn.embedding import Dropout, Embedding
from minigan.nn.layers import (
    BatchNorm1d, BatchNorm2d, Conv2d, ConvTranspose2d, Flatten, LayerNorm, LeakyReLU, Linear, ReLU, Reshape,
    Sigmoid, Tanh,
)
from minigan.nn.module import Module, Parameter, Sequential

__all__ = [
    "BatchNorm1d", "BatchNorm2d", "Conv2d", "ConvTranspose2d", "Dropout", "Embedding", "Flatten",
    "LayerNorm", "LeakyReLU", "Linear", "Module", "Parameter", "ReLU", "Reshape", "Sequential", "Sigmoid", "Tanh",
    "init",
]
