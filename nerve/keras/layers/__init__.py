"""Keras layers (channels-last, Keras initialisers and defaults)."""
from ..engine import Input, InputLayer, Layer
from .attention import MultiHeadAttention
from .conv import (
                   AveragePooling1D,
                   AveragePooling2D,
                   AvgPool1D,
                   AvgPool2D,
                   Conv1D,
                   Conv2D,
                   Conv2DTranspose,
                   Convolution1D,
                   Convolution2D,
                   MaxPool1D,
                   MaxPool2D,
                   MaxPooling1D,
                   MaxPooling2D,
)
from .core import (
                   ELU,
                   Activation,
                   Dense,
                   Dropout,
                   Embedding,
                   Flatten,
                   GaussianDropout,
                   GaussianNoise,
                   Lambda,
                   LeakyReLU,
                   Permute,
                   ReLU,
                   RepeatVector,
                   Reshape,
                   Softmax,
                   SpatialDropout1D,
                   SpatialDropout2D,
)
from .merge import (
                   Add,
                   Average,
                   Concatenate,
                   Maximum,
                   Minimum,
                   Multiply,
                   Subtract,
                   add,
                   average,
                   concatenate,
                   multiply,
)
from .normalization import BatchNormalization, LayerNormalization
from .recurrent import GRU, LSTM, Bidirectional, SimpleRNN
from .reshaping import (
                   GlobalAveragePooling1D,
                   GlobalAveragePooling2D,
                   GlobalAvgPool1D,
                   GlobalAvgPool2D,
                   GlobalMaxPool1D,
                   GlobalMaxPool2D,
                   GlobalMaxPooling1D,
                   GlobalMaxPooling2D,
                   RandomFlip,
                   RandomRotation,
                   RandomTranslation,
                   RandomZoom,
                   Rescaling,
                   TimeDistributed,
)

