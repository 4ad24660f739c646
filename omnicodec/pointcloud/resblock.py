"""The residual block the float geometry networks (occupancy, lossy) stack."""

from torch import nn

from omnicodec.sparse import Conv, relu


class ResBlock(nn.Module):
    """Two 3x3x3 sparse convolutions with a skip connection."""

    def __init__(self, channels, dimension=3):
        super().__init__()
        self.first = Conv(channels, channels, 3, dimension=dimension)
        self.second = Conv(channels, channels, 3, dimension=dimension)

    def forward(self, x):
        y = self.second(relu(self.first(x)))
        return relu(x.replace(x.features + y.features))
