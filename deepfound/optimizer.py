"""What every optimizer shares: its parameters, a settable learning rate, and its state.

An optimizer keeps, for each parameter, whatever running averages its rule needs, in
arrays allocated once (when the optimizer is built, or at the first step that needs
them) and updated in place. :meth:`Optimizer.state_dict` copies that state out and
:meth:`Optimizer.load_state_dict` puts it back, so an experiment such as
:func:`~deepfound.lr_finder.lr_find` can leave an optimizer as it found it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

from deepfound._checks import check_positive
from deepfound.nn import Parameter


class Optimizer:
    """Base class: a list of parameters, a learning rate ``lr`` and a ``step()``.

    Subclasses write :meth:`step`. Backward passes **overwrite** each parameter's
    ``.grad`` (see :mod:`deepfound.nn`), so there is no ``zero_grad``: every step uses
    the gradient of the last backward pass alone.

    Parameters
    ----------
    params : list of deepfound.nn.Parameter
        Usually ``model.parameters()`` (any iterable); read once and kept as the list ``.params``.
    lr : float
        Learning rate, positive and finite. ``opt.lr`` may be changed between steps
        (a schedule does that); a bad value raises ``ValueError`` there too.

    Examples
    --------
    >>> import numpy as np
    >>> class Halve(Optimizer):
    ...     def step(self):
    ...         for p in self.params:
    ...             p.data *= 0.5
    >>> opt = Halve([Parameter(np.ones(2))], lr=1.0)
    >>> opt.lr = -1
    Traceback (most recent call last):
    ValueError: Halve: the learning rate must be positive, got -1
    """

    def __init__(self, params: Iterable[Parameter], lr: float) -> None:
        name = type(self).__name__
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{name}: no parameters to optimize (was the iterable consumed?)")
        seen = set()
        for p in self.params:
            if not isinstance(p, Parameter):
                raise TypeError(
                    f"{name}: parameters must be Parameter objects, got {type(p).__name__}"
                )
            # A parameter listed twice would be moved twice per step.
            if id(p) in seen:
                raise ValueError(f"{name}: the parameter {p!r} is listed twice")
            seen.add(id(p))
        self.lr = lr

    @property
    def lr(self) -> float:
        """The learning rate the next :meth:`step` uses."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = check_positive(type(self).__name__, "the learning rate", value)

    def step(self) -> None:
        """Move every parameter once, using its ``.grad``; every subclass defines it."""
        raise NotImplementedError(f"{type(self).__name__} does not define step")

    def state_dict(self) -> dict:
        """A copy of everything the optimizer holds except the parameters themselves.

        Examples
        --------
        >>> import numpy as np
        >>> from deepfound.optim import SGD
        >>> p = Parameter(np.zeros(2))
        >>> p.grad = np.ones(2)
        >>> opt = SGD([p], lr=0.1, momentum=0.9)
        >>> saved = opt.state_dict()
        >>> opt.step()
        >>> opt.load_state_dict(saved)
        >>> opt.step()  # the momentum buffer starts afresh, as it did after `saved`
        >>> p.data
        array([-0.2, -0.2])
        """
        return {key: copy.deepcopy(value) for key, value in vars(self).items() if key != "params"}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned (the parameters are not touched)."""
        for key, value in state.items():
            setattr(self, key, copy.deepcopy(value))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr}, {len(self.params)} parameters)"
