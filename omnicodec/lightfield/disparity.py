"""Disparity of a light field's views: estimation by plane sweep, and warping by it.

Views sit on a regular U x V grid of cameras; a scene point at disparity d (pixels per
camera step) seen at pixel (y, x) of the centre view (cu, cv) appears at
(y + (u - cu) d, x + (v - cv) d) in view (u, v). The centre view's disparity map is
estimated by a plane sweep (each candidate disparity resamples the other views onto the
centre's pixels; the candidate of least absolute difference over a window wins, refined to
a fraction of the candidate step by a parabola), and carried to every view by forward
splatting (nearer points, larger disparity, hide farther ones; holes, which the centre
does not see, take the background around them). A view is then predicted from decoded
views by backward warping with its own disparity map.
"""

import torch
import torch.nn.functional as F

SENT_BITS = 4  # disparities are sent in 1/2^SENT_BITS pixel
WINDOW = 5  # pixels: side of the window the sweep's costs are summed over
TIE_BREAK = 1e-3  # cost per view and pixel of one pixel of disparity
SWEEP_VIEWS = 4  # the sweep compares the centre with views up to this many steps away on
# the centre row, column and both diagonals (the other views add little and cost time)


def luma(views):
    """(..., 3) RGB -> (...) BT.709 luma."""
    return views @ torch.tensor([0.2126, 0.7152, 0.0722], dtype=views.dtype)


def _pixel_grid(height, width):
    return torch.meshgrid(torch.arange(height, dtype=torch.float32),
                          torch.arange(width, dtype=torch.float32), indexing="ij")


def sample(images, y, x, mode="bicubic"):
    """Bicubic samples of (C, H, W) ``images`` at float pixel coordinates (H', W') (edges
    clamped) -> (C, H', W')."""
    _, height, width = images.shape
    grid = torch.stack([x * (2.0 / max(width - 1, 1)) - 1, y * (2.0 / max(height - 1, 1)) - 1], dim=-1)
    return F.grid_sample(images[None], grid[None], mode=mode, padding_mode="border", align_corners=True)[0]


def sweep_views(present, centre):
    """The views the sweep compares with the centre: those present ((U, V) bool) on its
    row, column and diagonals."""
    rows, cols = present.shape
    cu, cv = centre
    views = []
    for u in range(rows):
        for v in range(cols):
            du, dv = u - cu, v - cv
            if present[u, v] and (du, dv) != (0, 0) and max(abs(du), abs(dv)) <= SWEEP_VIEWS and (
                    du == 0 or dv == 0 or abs(du) == abs(dv)):
                views.append((u, v))
    return views


def estimate(luma_views, present, centre, candidates):
    """Disparity map (H, W) of the centre view of (U, V, H, W) float luma views, from the
    1D tensor of ``candidates`` (evenly spaced); ``present`` (U, V) bool: the views that
    are there (absent ones are left out)."""
    rows, cols, height, width = luma_views.shape
    y, x = _pixel_grid(height, width)
    reference = luma_views[centre]
    others = sweep_views(present, centre)
    if not others:  # one view: no parallax to measure
        return torch.zeros(height, width)
    costs = torch.zeros(len(candidates), height, width)
    for i, d in enumerate(candidates.tolist()):
        for u, v in others:
            moved = sample(luma_views[u, v][None], y + (u - centre[0]) * d, x + (v - centre[1]) * d,
                           mode="bilinear")[0]
            costs[i] += moved.sub_(reference).abs_()
    costs = F.avg_pool2d(costs[:, None], WINDOW, 1, WINDOW // 2, count_include_pad=False)[:, 0]
    # ties (no texture) go to the disparity nearest zero, so flat regions send no noise
    costs += TIE_BREAK * len(others) * candidates.abs()[:, None, None]
    best = costs.argmin(dim=0)
    # sub-candidate refinement: the vertex of the parabola through the best and its neighbours
    inner = best.clamp(1, len(candidates) - 2)
    c0, c1, c2 = (costs.gather(0, (inner + k)[None])[0] for k in (-1, 0, 1))
    curvature = c0 - 2 * c1 + c2
    shift = torch.where(curvature > 0, 0.5 * (c0 - c2) / curvature.clamp(min=1e-6), torch.zeros_like(c1))
    step = float(candidates[1] - candidates[0]) if len(candidates) > 1 else 0.0
    refined = candidates[inner] + shift.clamp(-0.5, 0.5) * step
    return torch.where(best == inner, refined, candidates[best])


def splat(disparity, offset):
    """The disparity map of the view ``offset`` = (du, dv) camera steps from the view whose
    map ``disparity`` (H, W) is: each pixel moves by offset x its disparity (nearest pixel);
    where several land, the largest disparity (the nearest point) wins; holes are filled
    by :func:`fill_holes`."""
    height, width = disparity.shape
    du, dv = offset
    if (du, dv) == (0, 0):
        return disparity.clone()
    y, x = _pixel_grid(height, width)
    return splat_to(disparity, torch.round(y + du * disparity).long(), torch.round(x + dv * disparity).long())


def splat_to(disparity, ty, tx):
    """Every pixel's disparity (float or integer) moved to its pixel (``ty``, ``tx``), the
    largest kept where several land, holes filled by :func:`fill_holes`."""
    height, width = disparity.shape
    inside = (ty >= 0) & (ty < height) & (tx >= 0) & (tx < width)
    empty = -1e9 if disparity.is_floating_point() else torch.iinfo(disparity.dtype).min
    out = torch.full((height * width,), empty, dtype=disparity.dtype).scatter_reduce(
        0, (ty * width + tx)[inside], disparity[inside], "amax").view(height, width)
    return fill_holes(out, out == empty)


def _nearest_along(values, known, dim, reverse):
    """For every pixel, the value of the nearest known pixel before it along ``dim`` (after
    it if ``reverse``), and whether there is one."""
    if reverse:
        values, known = values.flip(dim), known.flip(dim)
    shape = [1, 1]
    shape[dim] = -1
    index = torch.arange(values.shape[dim]).reshape(shape).expand_as(values)
    last = torch.where(known, index, torch.full_like(index, -1)).cummax(dim=dim).values
    found = last >= 0
    nearest = values.gather(dim, last.clamp(min=0))
    if reverse:
        nearest, found = nearest.flip(dim), found.flip(dim)
    return nearest, found


def fill_holes(disparity_map, hole):
    """Holes take the smallest of the nearest known disparities left, right, above and
    below them: the background that a nearer surface uncovered (float or integer maps)."""
    if not hole.any():
        return disparity_map
    known = ~hole
    if not known.any():
        return torch.zeros_like(disparity_map)
    top = float("inf") if disparity_map.is_floating_point() else torch.iinfo(disparity_map.dtype).max
    best = torch.full_like(disparity_map, top)
    for dim in (0, 1):
        for reverse in (False, True):
            nearest, found = _nearest_along(disparity_map, known, dim, reverse)
            best = torch.where(found, torch.minimum(best, nearest), best)
    fallback = disparity_map[known].min()
    best = torch.where(best == top, fallback, best)
    return torch.where(hole, best, disparity_map)


def warp(source, source_disparity, target_disparity, offset):
    """Backward warp of a (3, H, W) ``source`` view to the view ``offset`` = (du, dv) camera
    steps from it, whose disparity map is ``target_disparity``: (the (3, H, W) warped view,
    (H, W) visibility weight in (0, 1]: how well the source's own disparity at the sampled
    place agrees, low where the target's point is hidden in the source)."""
    height, width = target_disparity.shape
    y, x = _pixel_grid(height, width)
    sy = y - offset[0] * target_disparity
    sx = x - offset[1] * target_disparity
    warped = sample(source, sy, sx)
    seen = sample(source_disparity[None], sy, sx, mode="bilinear")[0]
    agreement = torch.exp(-((seen - target_disparity) / 0.3) ** 2)
    return warped, agreement + 1e-4
