"""Windows of an image as the rows of a matrix (im2col), and the scatter back (col2im).

A convolution multiplies every ``kh × kw`` window of its input with the same
kernels. :func:`im2col` lays the windows out as the rows of one matrix, so that
the whole convolution is one matrix product; :func:`col2im` adds a matrix of
that layout back onto the image, which is the convolution's backward pass.

Layout: images are NCHW, as in PyTorch, but inside these functions the channels
come last in memory (NHWC). A row of the matrix is one window, ordered
``(n, out_y, out_x)``; a column is one ``(ky, kx, channel)`` offset in the window.
With channels last, a window's ``kw`` pixels of ``c`` channels are ``kw * c``
consecutive numbers, so copying windows copies runs instead of single numbers,
and the product ``cols @ weights`` is an NHWC image that needs no reordering.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided


def output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0) -> int:
    """Positions of a kernel along one axis: ``(size + 2 * padding - kernel_size) // stride + 1``.

    The kernel starts at offsets ``0, stride, 2 * stride, ...`` of the padded
    axis and must fit inside it; a remainder too short for a whole kernel is dropped.

    Examples
    --------
    >>> output_size(28, 3), output_size(28, 3, padding=1), output_size(28, 3, stride=2, padding=1)
    (26, 28, 14)
    >>> output_size(7, 3, stride=2, padding=1)
    4
    """
    return (size + 2 * padding - kernel_size) // stride + 1


def pad_channels_last(x: np.ndarray, padding: int, out: np.ndarray | None = None) -> np.ndarray:
    """``x`` (n, c, h, w) padded with zeros, as an array (n, h + 2p, w + 2p, c).

    ``out``, if it has the right shape and dtype, is reused: only its interior is
    written, so a border that was zero stays zero and nothing is allocated.

    Examples
    --------
    >>> pad_channels_last(np.ones((1, 2, 1, 1)), 1)[0, :, :, 0]
    array([[0., 0., 0.],
           [0., 1., 0.],
           [0., 0., 0.]])
    """
    n, c, h, w = x.shape
    if padding == 0:
        # Already channels last in memory (a conv's output): a view, no copy.
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    shape = (n, h + 2 * padding, w + 2 * padding, c)
    if out is None or out.shape != shape or out.dtype != x.dtype:
        out = np.zeros(shape, x.dtype)
    out[:, padding : padding + h, padding : padding + w] = x.transpose(0, 2, 3, 1)
    return out


def windows(padded: np.ndarray, kernel_size: tuple[int, int], stride: int) -> np.ndarray:
    """Every window of a padded NHWC image, as a read-only view (n, oh, ow, kh, kw, c).

    No data is copied: moving one output position moves ``stride`` rows or
    columns in memory, moving inside the window moves one, exactly the strides
    of the image times the step.

    Examples
    --------
    >>> image = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> view = windows(image, (2, 2), stride=2)
    >>> view.shape, np.shares_memory(view, image)
    ((1, 2, 2, 2, 2, 1), True)
    >>> view[0, 1, 0, :, :, 0]
    array([[ 8.,  9.],
           [12., 13.]])
    """
    n, hp, wp, c = padded.shape
    kh, kw = kernel_size
    oh, ow = output_size(hp, kh, stride), output_size(wp, kw, stride)
    sn, sh, sw, sc = padded.strides
    return as_strided(
        padded, (n, oh, ow, kh, kw, c), (sn, stride * sh, stride * sw, sh, sw, sc), writeable=False
    )


def window_rows(
    padded: np.ndarray, kernel_size: tuple[int, int], stride: int, out: np.ndarray | None = None
) -> np.ndarray:
    """Copy the :func:`windows` of a padded NHWC image into a matrix (n * oh * ow, kh * kw * c).

    ``out``, if it has the right shape and dtype, is reused.

    Examples
    --------
    >>> window_rows(np.arange(4.0).reshape(1, 2, 2, 1), (1, 2), stride=1)
    array([[0., 1.],
           [2., 3.]])
    """
    view = windows(padded, kernel_size, stride)
    n, oh, ow, kh, kw, c = view.shape
    shape = (n * oh * ow, kh * kw * c)
    if out is None or out.shape != shape or out.dtype != padded.dtype or not out.flags.c_contiguous:
        out = np.empty(shape, padded.dtype)
    np.copyto(out.reshape(view.shape), view)
    return out


def _window_rows_by_offsets(
    padded: np.ndarray, kernel_size: tuple[int, int], stride: int, out: np.ndarray | None = None
) -> np.ndarray:
    """:func:`window_rows` of a one-channel image, faster: the same matrix, stored by columns.

    numpy copies in loops over the last axis, and with one channel a window's row is
    only ``kw`` numbers long. So the matrix is filled one offset of every window at a
    time, as the rows of a (kh * kw, n * oh * ow) array written in order, and returned
    transposed: a view of shape (n * oh * ow, kh * kw) stored column by column, which
    BLAS reads without a copy. :class:`~deepfound.conv.Conv2d` uses it for a
    one-channel input, where it measurably speeds up a training step
    (``tests/compare_revisions.py``).

    Examples
    --------
    >>> image = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> np.array_equal(_window_rows_by_offsets(image, (3, 3), 1), window_rows(image, (3, 3), 1))
    True
    """
    view = windows(padded, kernel_size, stride)
    n, oh, ow, kh, kw, c = view.shape
    if c != 1:
        raise ValueError(f"_window_rows_by_offsets: one channel expected, got {c}")
    shape = (n * oh * ow, kh * kw)
    if (
        out is None
        or out.shape != shape
        or out.dtype != padded.dtype
        or not out.T.flags.c_contiguous
    ):
        out = np.empty(shape[::-1], padded.dtype).T
    per_offset = out.T.reshape(kh, kw, n, oh, ow)
    for ky in range(kh):
        for kx in range(kw):
            per_offset[ky, kx] = view[:, :, :, ky, kx, 0]
    return out


def im2col(
    x: np.ndarray, kernel_size: tuple[int, int], *, stride: int = 1, padding: int = 0
) -> np.ndarray:
    """The windows of ``x`` (n, c, h, w) as rows: a matrix (n * oh * ow, kh * kw * c).

    Row ``(i, y, x)`` holds the window whose top-left corner is at
    ``(y * stride, x * stride)`` of the padded image ``i``, in the order
    ``(ky, kx, channel)``: :func:`pad_channels_last`, then :func:`window_rows`.

    Examples
    --------
    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> im2col(x, (2, 2))
    array([[0., 1., 3., 4.],
           [1., 2., 4., 5.],
           [3., 4., 6., 7.],
           [4., 5., 7., 8.]])
    """
    return window_rows(pad_channels_last(x, padding), kernel_size, stride)


def col2im(
    cols: np.ndarray,
    x_shape: tuple[int, int, int, int],
    kernel_size: tuple[int, int],
    *,
    stride: int = 1,
    padding: int = 0,
) -> np.ndarray:
    """Add each window's entries back onto the pixels they came from: the adjoint of :func:`im2col`.

    ``cols`` holds one (n * oh * ow, c) block per offset in the window, shape
    (kh * kw, n * oh * ow, c); a pixel that lies in several windows receives the
    sum of their entries. The loop runs over the ``kh * kw`` offsets, never over
    pixels: offset ``(ky, kx)`` of every window lands on the padded pixels
    ``(ky + stride * y, kx + stride * x)``, one strided slice of the padded image,
    and its block is added there in one step. The result has shape ``x_shape``
    (n, c, h, w), with the channels last in memory.

    Examples
    --------
    >>> col2im(np.ones((4, 4, 1)), (1, 1, 3, 3), (2, 2))[0, 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    n, c, h, w = x_shape
    kh, kw = kernel_size
    s, p = stride, padding
    oh, ow = output_size(h, kh, s, p), output_size(w, kw, s, p)
    padded = np.zeros((n, h + 2 * p, w + 2 * p, c), cols.dtype)
    per_offset = cols.reshape(kh, kw, n, oh, ow, c)
    for ky in range(kh):
        for kx in range(kw):
            padded[:, ky : ky + s * oh : s, kx : kx + s * ow : s] += per_offset[ky, kx]
    return padded[:, p : p + h, p : p + w].transpose(0, 3, 1, 2)


def _col2im_by_phases(
    cols: np.ndarray,
    x_shape: tuple[int, int, int, int],
    kernel_size: tuple[int, int],
    *,
    stride: int = 1,
    padding: int = 0,
) -> np.ndarray:
    """:func:`col2im`, computed by phases: the same sums, faster for strides above 1.

    With a stride ``s`` the pixels an offset reaches are every ``s``-th row and
    column, runs of only ``c`` numbers in memory, and numpy's loops over such short
    runs cost more than the additions. So the sums are made in ``s * s`` *phase*
    images, one per (row mod s, column mod s), where an offset's pixels are
    consecutive, and the phases are interleaved into the image once at the end.
    Every pixel receives the same terms in the same order as in :func:`col2im`,
    so the two agree exactly. :class:`~deepfound.conv.Conv2d`'s backward pass
    uses it, as the measurably faster of the two (``tests/compare_revisions.py``).

    Examples
    --------
    >>> cols = np.arange(16.0).reshape(4, 4, 1)
    >>> np.array_equal(_col2im_by_phases(cols, (1, 1, 4, 4), (2, 2), stride=2),
    ...                col2im(cols, (1, 1, 4, 4), (2, 2), stride=2))
    True
    """
    n, c, h, w = x_shape
    kh, kw = kernel_size
    s, p = stride, padding
    hp, wp = h + 2 * p, w + 2 * p
    oh, ow = output_size(hp, kh, s), output_size(wp, kw, s)
    # Padded pixel (y, x) is pixel (y // s, x // s) of phase (y % s, x % s).
    phases = np.zeros((s, s, n, -(-hp // s), -(-wp // s), c), cols.dtype)
    per_offset = cols.reshape(kh, kw, n, oh, ow, c)
    for ky in range(kh):
        for kx in range(kw):
            y, x = ky // s, kx // s
            phases[ky % s, kx % s, :, y : y + oh, x : x + ow] += per_offset[ky, kx]
    if s == 1:
        grad = phases[0, 0]
    else:
        _, _, _, hs, ws, _ = phases.shape
        grad = np.empty((n, hs * s, ws * s, c), cols.dtype)
        # Interleave whole pixels: viewed as single items of c numbers (a numpy "void" type
        # of c * itemsize bytes), each pixel moves in one step, not in a loop over c numbers.
        pixel = np.dtype((np.void, c * cols.itemsize))
        grad_pixels, phase_pixels = grad.view(pixel)[..., 0], phases.view(pixel)[..., 0]
        for py in range(s):
            for px in range(s):
                grad_pixels[:, py::s, px::s] = phase_pixels[py, px]
    return grad[:, p : p + h, p : p + w].transpose(0, 3, 1, 2)
