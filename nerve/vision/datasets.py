"""torchvision-style datasets over nerve's loaders: ``MNIST``, ``FashionMNIST``, ``CIFAR10``.

``MNIST(root, train=True, transform=None, target_transform=None, download=False)``
looks for the original files, in order, in ``root``, ``root/mnist``, ``root/MNIST/raw``
(torchvision's layout), ``root/MNIST``, ``$NERVE_DATA/mnist`` and the cache, and only
then downloads (into ``root/MNIST/raw``) when ``download=True``. ``dataset[i]`` is
``(image, label)``: the image is a uint8 HxW (HxWxC for CIFAR-10) NumPy array -- the
stand-in for torchvision's PIL image -- passed through ``transform``; the label an int.

Like torchvision, ``.data`` holds all images (uint8) and ``.targets`` the labels
(int64), for code that slices them directly. ``verify=False`` (not in torchvision) skips
the checksum of local files, e.g. a Fashion-MNIST you re-compressed yourself.

With the default collate, a DataLoader fetches whole batches at once when the transform
is ToTensor/Normalize (or none): one vectorised pass instead of a Python call per
image, with identical results.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..datasets import cifar10 as _cifar10
from ..datasets import fashion_mnist as _fashion
from ..datasets import mnist as _mnist
from ..datasets._download import cache_dir, search_dirs
from ..tensor import Tensor
from . import transforms as T

try:  # nerve.data.Dataset when present (DataLoader, ConcatDataset, Subset work with it)
    from ..data.dataset import Dataset
except ImportError:  # pragma: no cover - minimal stand-in
    class Dataset:  # type: ignore[no-redef]
        def __getitem__(self, index):
            raise NotImplementedError

__all__ = ["VisionDataset", "MNIST", "FashionMNIST", "CIFAR10"]


def _as_array(x) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


class VisionDataset(Dataset):
    """Base: holds ``root``, ``transform``, ``target_transform``; subclasses set
    ``data`` (N images) and ``targets`` (N labels)."""

    def __init__(self, root=None, transform=None, target_transform=None) -> None:
        self.root = None if root is None else str(Path(root).expanduser())
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index):
        img = _as_array(self.data)[index]
        target = int(_as_array(self.targets)[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def _fetch_batch(self, indices: np.ndarray):
        """A whole collated batch at once when the transform allows it (see module doc)."""
        if type(self).__getitem__ is not VisionDataset.__getitem__ \
                or self.target_transform is not None:
            return NotImplemented
        steps = [] if self.transform is None else T._batchable(self.transform)
        if steps is None:
            return NotImplemented
        data, targets = _as_array(self.data), _as_array(self.targets)
        n = len(data)
        if indices.size and (indices.min() < -n or indices.max() >= n):
            raise IndexError(f"{type(self).__name__}: index out of range for a dataset of {n} "
                             "samples")
        x = data[indices]
        for t in steps:
            x = t._batch(x)
        if isinstance(x, np.ndarray):
            x = Tensor._wrap(x)
        return [x, Tensor._wrap(targets[indices].astype(np.int64))]

    @property
    def class_to_idx(self) -> dict:
        return {c: i for i, c in enumerate(self.classes)}

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"Number of datapoints: {len(self)}"]
        if self.root is not None:
            lines.append(f"Root location: {self.root}")
        lines += [ln for ln in self.extra_repr().splitlines() if ln]
        if self.transform is not None:
            lines.append(f"Transform: {self.transform!r}".replace("\n", "\n    "))
        if self.target_transform is not None:
            lines.append(f"Target transform: {self.target_transform!r}")
        return f"Dataset {type(self).__name__}\n" + "\n".join("    " + ln for ln in lines)


class MNIST(VisionDataset):
    """MNIST digits: 60,000 training / 10,000 test images, 28x28 uint8, labels 0-9.

    Example:
        >>> from nerve.vision import datasets, transforms
        >>> ds = datasets.MNIST("data", train=False, transform=transforms.ToTensor())
        ... # doctest: +SKIP
        >>> x, y = ds[0]; x.shape, y                              # doctest: +SKIP
        ((1, 28, 28), 7)
    """

    _spec = _mnist
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five",
               "6 - six", "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root=None, train: bool = True, transform=None, target_transform=None,
                 download: bool = False, verify: bool = True) -> None:
        super().__init__(root, transform, target_transform)
        self.train = train
        spec, folder = self._spec, type(self)._folder()
        dirs = search_dirs(spec.NAME, self.root, extra=(f"{folder}/raw", folder))
        images, labels = _mnist.load_split(spec, train, dirs=dirs, verify=verify,
                                           download_dir=self._download_dir(), download=download)
        self.data = Tensor._wrap(images)                      # uint8 (N, 28, 28)
        self.targets = Tensor._wrap(labels.astype(np.int64))  # int64 (N,)

    @classmethod
    def _folder(cls) -> str:
        for c in cls.__mro__:  # a user subclass keeps its base's folder name
            if c.__module__ == __name__:
                return c.__name__
        return cls.__name__

    def _download_dir(self) -> Path:
        if self.root is None:
            return cache_dir(self._spec.NAME)
        return Path(self.root) / self._folder() / "raw"

    @property
    def raw_folder(self) -> str:
        return str(self._download_dir())

    def extra_repr(self) -> str:
        return f"Split: {'Train' if self.train else 'Test'}"


class FashionMNIST(MNIST):
    """Fashion-MNIST: 60,000 / 10,000 grayscale 28x28 images of 10 kinds of clothing."""

    _spec = _fashion
    classes = list(_fashion.CLASSES)


class CIFAR10(VisionDataset):
    """CIFAR-10: 50,000 / 10,000 colour images 32x32x3 (HWC uint8), 10 classes.

    Reads the *binary* version only (``cifar-10-binary.tar.gz`` or the extracted
    ``cifar-10-batches-bin/``), looked up in ``root``, ``root/cifar10``,
    ``$NERVE_DATA/cifar10`` and the cache; ``download=True`` fetches it into ``root``.
    ``.data`` is a uint8 array (N, 32, 32, 3) and ``.targets`` an int64 array (N,).
    """

    classes = list(_cifar10.CLASSES)

    def __init__(self, root=None, train: bool = True, transform=None, target_transform=None,
                 download: bool = False, verify: bool = True) -> None:
        super().__init__(root, transform, target_transform)
        self.train = train
        dirs = search_dirs(_cifar10.NAME, self.root, extra=("CIFAR10",))
        ddir = cache_dir(_cifar10.NAME) if self.root is None else Path(self.root)
        images, labels = _cifar10.load_split(train, dirs=dirs, download_dir=ddir,
                                             download=download, verify=verify)
        self.data = images                         # uint8 (N, 32, 32, 3)
        self.targets = labels.astype(np.int64)     # int64 (N,)

    def extra_repr(self) -> str:
        return f"Split: {'Train' if self.train else 'Test'}"
