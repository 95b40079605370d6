"""Reading and writing video files with PyAV.

PyAV (`pip install ttrnn[video]`) is an optional dependency: it is imported
lazily, so the rest of `ttrnn.data` works without it.
"""

import os
import warnings

import numpy as np

from ttrnn import extras
from ttrnn.data._checks import check_frame_shape
from ttrnn.data._checks import check_int

# Container suffix -> (codec, pixel format, extra codec settings).
# FFV1 and x264-RGB at qp 0 are lossless for RGB frames; MPEG-1 (the format
# of UCF11's .mpg clips) is lossy, so we encode it at a high bit rate.
_ENCODERS = {
    ".avi": ("ffv1", "bgr0", {}),
    ".mkv": ("ffv1", "bgr0", {}),
    ".mp4": ("libx264rgb", "rgb24", {"options": {"qp": "0"}}),
    ".mpg": ("mpeg1video", "yuv420p", {"bit_rate": 20_000_000}),
    ".mpeg": ("mpeg1video", "yuv420p", {"bit_rate": 20_000_000}),
}
# Frame rates an MPEG-1 stream can carry.
_MPEG1_RATES = (24, 25, 30, 50, 60)
# A clip that decodes to fewer than this share of the frames its container
# announces is corrupt (VideoReadError); below _SHORT_RATIO it is kept with
# a TruncatedVideoWarning.
_CORRUPT_RATIO = 0.5
_SHORT_RATIO = 0.9


class VideoReadError(OSError):
    """A video file could not be opened or decoded."""


class TruncatedVideoWarning(UserWarning):
    """A video file decoded to fewer frames than it should: cut short."""


def require_av():
    """Imports PyAV, or raises an ImportError that says how to install it.

    Returns:
        The `av` module.

    Raises:
        ttrnn.extras.MissingExtraError: (an `ImportError`) naming
            `pip install "ttrnn[video]"`.
    """
    return extras.require("av", "video", "Reading and writing video files")


def read_video(path, frame_shape=(120, 160), every=1, max_frames=None):
    """Decodes a video file into RGB frames of a fixed size.

    Args:
        path: path of the video file (any container and codec FFmpeg reads:
            .mpg, .avi, .mp4, .mkv, ...).
        frame_shape: `(height, width)` every frame is resized to, or `None`
            to keep the stored size. Defaults to `(120, 160)`, the frame
            size of the TT-RNN experiments.
        every: keep one frame out of `every` (1 keeps all frames), starting
            with the first. Defaults to 1.
        max_frames: keep at most this many frames (after `every`), or
            `None` for all. Defaults to `None`.

    A file cut short (a broken download, a full disk) is caught where the
    container says how long it should be (AVI, MP4, Matroska): fewer than
    half the announced frames raise `VideoReadError`, fewer than 90 % warn.
    A last frame the file ends inside of (MPEG-1 .mpg included, whose
    container states no length) is dropped with a `TruncatedVideoWarning`.

    Returns:
        A uint8 array of shape `(frames, height, width, 3)`.

    Raises:
        FileNotFoundError: if `path` does not exist.
        VideoReadError: if the file cannot be opened, has no video stream,
            is corrupt, yields no frame, or decodes to fewer than half the
            frames its container announces (the message names the file
            and both counts).
        ValueError: for invalid `frame_shape`, `every` or `max_frames`.

    Warns:
        TruncatedVideoWarning: a shorter cut (see above), kept.
    """
    frame_shape = check_frame_shape(frame_shape, allow_none=True)
    every = check_int("every", every)
    max_frames = check_int("max_frames", max_frames, allow_none=True)
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No video file at path={path!r}.")
    av = require_av()
    frames = []
    decoded, last_corrupt, complete = 0, False, True
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise VideoReadError(f"No video stream in {path!r}.")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            announced = _announced_frames(container, stream)
            for index, frame in enumerate(container.decode(stream)):
                decoded = index + 1
                last_corrupt = bool(getattr(frame, "is_corrupt", False))
                if index % every:
                    continue
                frames.append(_to_rgb(frame, frame_shape))
                if max_frames is not None and len(frames) >= max_frames:
                    complete = False  # stopped early: nothing to check
                    break
    except (av.FFmpegError, ValueError, OSError) as error:
        if isinstance(error, VideoReadError):
            raise
        raise VideoReadError(
            f"Cannot decode video {path!r}: {error}"
        ) from error
    if not frames:
        raise VideoReadError(f"No frame could be decoded from {path!r}.")
    if complete:
        frames = _check_complete(
            path, frames, decoded, announced, last_corrupt, every
        )
    return np.stack(frames)


def write_video(path, frames, fps=24):
    """Writes RGB frames to a video file.

    The codec follows the file suffix: `.avi` and `.mkv` use FFV1 and `.mp4`
    lossless x264 (both read back bit-exact); `.mpg`/`.mpeg` use MPEG-1 at a
    high bit rate, which is lossy (errors of a few grey levels).

    Args:
        path: output path; its suffix picks the codec (see above).
        frames: uint8 array of shape `(frames, height, width, 3)`.
        fps: frame rate. Defaults to 24. MPEG-1 only accepts 24, 25, 30, 50
            or 60.

    Raises:
        ValueError: for an unknown suffix, frames of the wrong shape or
            dtype, odd frame sizes in MPEG-1, or an invalid `fps`.
    """
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in _ENCODERS:
        raise ValueError(
            f"Argument `path` must end in one of {sorted(_ENCODERS)}. "
            f"Received: path={path!r}"
        )
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(
            "Argument `frames` must be a uint8 array of shape "
            "(frames, height, width, 3). Received: "
            f"dtype={frames.dtype}, shape={frames.shape}"
        )
    if len(frames) == 0:
        raise ValueError("Argument `frames` must hold at least one frame.")
    fps = check_int("fps", fps)
    codec, pix_fmt, settings = _ENCODERS[suffix]
    height, width = frames.shape[1:3]
    if codec == "mpeg1video":
        if fps not in _MPEG1_RATES:
            raise ValueError(
                f"MPEG-1 (.mpg) needs fps in {_MPEG1_RATES}. Received: "
                f"fps={fps}"
            )
        if height % 2 or width % 2:
            raise ValueError(
                "MPEG-1 (.mpg) needs an even frame height and width. "
                f"Received: frames of shape {frames.shape}"
            )
    av = require_av()
    with av.open(path, "w") as container:
        stream = container.add_stream(
            codec, rate=int(fps), options=settings.get("options", {})
        )
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if "bit_rate" in settings:
            stream.codec_context.bit_rate = settings["bit_rate"]
        for array in frames:
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _announced_frames(container, stream):
    """Frames the container announces, or None where it states none.

    AVI and MP4 store a frame count; Matroska a duration. MPEG program,
    elementary and transport streams (.mpg, .ts) state neither: FFmpeg
    estimates their duration from the time stamps at the end of the file,
    which a truncated file shortens too, so it announces nothing.
    """
    if stream.frames:
        return int(stream.frames)
    if "mpeg" in container.format.name:  # mpeg, mpegvideo, mpegts
        return None  # a duration estimated from the file's own end
    rate = stream.average_rate or stream.guessed_rate
    if not rate:
        return None
    if stream.duration and stream.time_base:
        seconds = stream.duration * stream.time_base
    elif container.duration:
        seconds = container.duration / 1_000_000  # in AV_TIME_BASE units
    else:
        return None
    return int(round(seconds * rate)) or None


def _check_complete(path, frames, decoded, announced, last_corrupt, every):
    """Raises for a clip cut far short; warns and trims a shorter cut.

    `decoded` counts every decoded frame (before `every`); `frames` holds
    the kept ones. A last frame the decoder flags as corrupt is a picture
    the file ends inside of (the signature of a truncated file): dropped.
    """
    counts = (
        f"its container announces {announced} frames, {decoded} decoded"
        if announced
        else f"{decoded} frames decoded (the container states no count)"
    )
    if announced and decoded < _CORRUPT_RATIO * announced:
        raise VideoReadError(
            f"Video {path!r} is truncated or corrupt: {counts}."
        )
    short = announced and decoded < _SHORT_RATIO * announced
    if not (short or last_corrupt):
        return frames
    note = ""
    if last_corrupt and (decoded - 1) % every == 0 and len(frames) > 1:
        frames = frames[:-1]
        note = "; its last frame is cut short and dropped"
    elif last_corrupt:
        note = "; its last frame is cut short"
    warnings.warn(
        f"Video {path!r} looks truncated: {counts}{note}. Keeping the "
        f"{len(frames)} frames read; re-download or re-encode the file if "
        "it should be longer.",
        TruncatedVideoWarning,
        stacklevel=3,
    )
    return frames


def _to_rgb(frame, frame_shape):
    if frame_shape is None:
        return frame.to_ndarray(format="rgb24")
    height, width = frame_shape
    return frame.reformat(
        width=width, height=height, format="rgb24"
    ).to_ndarray()
