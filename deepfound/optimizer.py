"""What every optimizer shares: its parameter groups, a settable learning rate, and its state.

An optimizer's parameters come in *groups*, as in ``torch.optim``: ``params`` is either a
list of parameters (one group) or a list of dicts ``{"params": [...], "lr": ..., ...}``
whose options override the constructor's, so that, say, biases go without weight decay.
``opt.param_groups`` is that list of dicts, each holding every option; a step reads each
group's options afresh, so a change to ``opt.param_groups[i]["lr"]`` applies from the next
step. Setting ``opt.lr`` sets every group's.

An optimizer keeps, for each parameter, whatever running averages its rule needs, in
arrays allocated once (when the optimizer is built, or at the first step that needs
them) and updated in place. :meth:`Optimizer.state_dict` copies that state and the
groups' options out and :meth:`Optimizer.load_state_dict` puts them back, so an experiment
such as :func:`~deepfound.lr_finder.lr_find` can leave an optimizer as it found it.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterable

from deepfound._checks import check_positive
from deepfound.nn import Parameter


class Optimizer:
    """Base class: parameter groups, a learning rate ``lr`` and a ``step()``.

    Subclasses write :meth:`step`, pass their options to ``__init__`` as keywords (the
    defaults of every group) and check a group's options in ``_check_options``. Backward
    passes **overwrite** each parameter's ``.grad`` (see :mod:`deepfound.nn`), so there is
    no ``zero_grad``: every step uses the gradient of the last backward pass alone.

    Parameters
    ----------
    params : list of deepfound.nn.Parameter, or list of dict
        Usually ``model.parameters()`` (any iterable), read once: one group. Or parameter
        groups, dicts with the key ``"params"`` (the group's parameters) and any of the
        optimizer's options, which override the constructor's for that group. Every
        parameter belongs to one group; the groups' parameters are fixed once built.
    lr : float
        Learning rate, positive and finite, of every group that does not set its own.
    **defaults
        The subclass's other options, the defaults of every group.

    Attributes
    ----------
    param_groups : list of dict
        One dict per group: ``"params"`` and every option. Change an option here between
        steps to change it for that group alone.
    params : list of deepfound.nn.Parameter
        Every parameter, group after group.

    Examples
    --------
    >>> import numpy as np
    >>> class Halve(Optimizer):
    ...     def step(self):
    ...         for p in self.params:
    ...             p.data *= 0.5
    >>> opt = Halve([Parameter(np.ones(2))], lr=1.0)
    >>> opt.param_groups[0]["lr"]
    1.0
    >>> opt.lr = -1
    Traceback (most recent call last):
    ValueError: Halve: the learning rate must be positive, got -1
    """

    def __init__(
        self,
        params: Iterable[Parameter] | Iterable[dict],
        lr: float,
        **defaults,
    ) -> None:
        name = type(self).__name__
        groups = list(params)
        if not groups:
            raise ValueError(f"{name}: no parameters to optimize (was the iterable consumed?)")
        if not any(isinstance(group, dict) for group in groups):
            groups = [{"params": groups}]
        # The constructor's options are checked even where every group overrides them.
        self.defaults = {"lr": check_positive(name, "the learning rate", lr), **defaults}
        self._check_options(self.defaults, name)
        self.param_groups = [
            self._group(group, f"{name} (param_groups[{i}])" if len(groups) > 1 else name)
            for i, group in enumerate(groups)
        ]
        self.params = [p for group in self.param_groups for p in group["params"]]
        where = {}
        for i, group in enumerate(self.param_groups):
            for p in group["params"]:
                # A parameter listed twice would be moved twice per step.
                if id(p) in where:
                    place = "listed twice" if where[id(p)] == i else "in two groups"
                    raise ValueError(f"{name}: the parameter {p!r} is {place}")
                where[id(p)] = i

    def _group(self, group: dict, owner: str) -> dict:
        """A copy of ``group`` holding every option, each checked; ``owner`` names it in errors."""
        if not isinstance(group, dict):
            raise TypeError(
                f"{owner}: parameter groups must all be dicts, got {type(group).__name__}"
            )
        if "params" not in group:
            raise ValueError(f"{owner}: a parameter group needs the key 'params'")
        for key in group:
            if key != "params" and key not in self.defaults:
                raise ValueError(
                    f"{owner}: unknown option {key!r} in a parameter group; "
                    f"the options are {', '.join(self.defaults)}"
                )
        params = group["params"]
        params = [params] if isinstance(params, Parameter) else list(params)
        if not params:
            raise ValueError(f"{owner}: a parameter group has no parameters")
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(
                    f"{owner}: parameters must be Parameter objects, got {type(p).__name__}"
                )
        group = {"params": params, **self.defaults, **group}
        group["params"] = params
        group["lr"] = check_positive(owner, "the learning rate", group["lr"])
        self._check_options(group, owner)
        return group

    def _check_options(self, group: dict, owner: str) -> None:
        """Check (and normalize, in place) a group's options other than ``lr``."""

    def _shared(self, key: str):
        """The option ``key`` of every group, if they share it; else a ``ValueError``."""
        values = [group[key] for group in self.param_groups]
        if any(value != values[0] for value in values[1:]):
            raise ValueError(
                f"{type(self).__name__}: the parameter groups have different {key} "
                f"({', '.join(map(repr, values))}); read opt.param_groups[i][{key!r}]"
            )
        return values[0]

    def _set_all(self, key: str, value) -> None:
        for group in self.param_groups:
            group[key] = value

    @property
    def lr(self) -> float:
        """The learning rate of the next :meth:`step`, in every group.

        Reading it when the groups have different learning rates raises ``ValueError``:
        read ``opt.param_groups[i]["lr"]`` then. Setting it sets every group's learning rate,
        overwriting any a group had of its own (a schedule in
        :func:`~deepfound.learner.fit` does that).
        """
        return self._shared("lr")

    @lr.setter
    def lr(self, value: float) -> None:
        self._set_all("lr", check_positive(type(self).__name__, "the learning rate", value))

    def step(self) -> None:
        """Move every parameter once, using its ``.grad``: group after group, each with its options.

        ``self._step_group(group, first)`` moves one group, whose first parameter is
        ``self.params[first]`` (so that state kept per parameter is found by index); a subclass
        writes it, or replaces ``step`` altogether.
        """
        first = 0
        for group in self.param_groups:
            self._step_group(group, first)
            first += len(group["params"])

    def _step_group(self, group: dict, first: int) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not define step")

    def state_dict(self) -> dict:
        """A copy of everything the optimizer holds except the parameters themselves.

        The groups' options are under ``"param_groups"``, one dict per group, without
        their ``"params"``.

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
        state = {
            key: copy.deepcopy(value)
            for key, value in vars(self).items()
            if key not in ("params", "param_groups")
        }
        state["param_groups"] = [
            {key: copy.deepcopy(value) for key, value in group.items() if key != "params"}
            for group in self.param_groups
        ]
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned (the parameters are not touched)."""
        state = dict(state)
        groups = state.pop("param_groups", None)
        if groups is not None:
            if len(groups) != len(self.param_groups):
                raise ValueError(
                    f"{type(self).__name__}: the state has {len(groups)} parameter groups, "
                    f"the optimizer {len(self.param_groups)}"
                )
            for group, saved in zip(self.param_groups, groups, strict=True):
                group.update(copy.deepcopy({k: v for k, v in saved.items() if k != "params"}))
        for key, value in state.items():
            setattr(self, key, copy.deepcopy(value))

    def __repr__(self) -> str:
        """The class, then each group's options that differ from the constructor's defaults.

        Examples
        --------
        >>> import numpy as np
        >>> from deepfound.optim import SGD
        >>> w, b = Parameter(np.zeros((3, 2))), Parameter(np.zeros(2))
        >>> SGD([w, b], lr=0.1, momentum=0.9)
        SGD(lr=0.1, momentum=0.9, 2 parameters)
        >>> SGD([{"params": [w], "weight_decay": 1e-4}, {"params": [b]}], lr=0.1)
        SGD(group 0: lr=0.1, weight_decay=0.0001, 1 parameters; group 1: lr=0.1, 1 parameters)
        """
        signature = inspect.signature(type(self)).parameters
        groups = []
        for group in self.param_groups:
            shown = [
                f"{key}={value}"
                for key, value in group.items()
                if key == "lr"
                or key != "params"
                and (key not in signature or value != signature[key].default)
            ]
            groups.append(", ".join([*shown, f"{len(group['params'])} parameters"]))
        if len(groups) == 1:
            return f"{type(self).__name__}({groups[0]})"
        described = "; ".join(f"group {i}: {text}" for i, text in enumerate(groups))
        return f"{type(self).__name__}({described})"
