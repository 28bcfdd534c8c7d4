"""Pose clips: a small, deterministic, generated 3D human pose video dataset in the MMHPSD layout.

It is meant for a CPU demo of 3D human pose tracking from RGB video.  Every sequence shows one
person, a stick-and-capsule figure with the 24 joints of SMPL, moving in front of a static camera
over a static textured background (wall and checkered floor).  The files follow the on-disk layout
of the real MMHPSD dataset (Zou et al., EventHPE, ICCV 2021), so the loader that reads the
generated data reads the real data too::

    root/mmhpsd_grayscale_img/<action>/imgs/fullpic<index:04d>.jpg
    root/mmhpsd_events/<action>/poses/pose_<index:04d>.npz
    root/meta.json

Actions are named ``subject<XX:02d>_group<Y>_time<Z>`` as in MMHPSD; sequence ``s`` (from 0) of a
subject is ``group = s // 4 + 1``, ``time = s % 4 + 1`` (MMHPSD records up to four times per
group).  Frame indices start at 0.  Subjects 1, 2 and 7 form the test split (as in MMHPSD), all
other subjects the training split.

Each ``pose_XXXX.npz`` holds, all float64:

- ``joints3d`` [24, 3]: the joints in camera coordinates, metres; x right, y down, z forward
  (away from the camera, the real data's convention), so every joint has z > 0.
- ``joints2d`` [24, 3]: pixel x, y of the pinhole projection of ``joints3d`` and 1.0 (visible)
  in the third column.  The intrinsics are those of the real data, fx = fy = 1679.3 and
  cx = cy = 641 at 1280 px, scaled by ``img_size / 1280`` (:func:`camera_intrinsics`).
- ``trans`` [1, 3]: the pelvis position, camera coordinates.
- ``body_pose`` [1, 72] and ``beta`` [1, 10]: zeros.  The generator is *not* SMPL: there is no
  mesh, the skeleton has its own rest pose (arms hanging, not SMPL's T-pose) and its joint angles
  do not follow SMPL's rest frames, so SMPL parameters would be meaningless; the keys exist so
  that MMHPSD loaders find them.

Body: :data:`REST_OFFSETS` is a rest pose of a ~1.70 m person in the body frame of SMPL (x to the
person's left, y up, z the direction the person faces).  Each subject scales it by one factor in
[0.85, 1.15] and every bone by a further factor in [0.95, 1.05] (the same for a bone and its
mirror image), and draws a girth factor for the rendered limb widths; a subject looks the same in
all its sequences.

Motion: local joint rotations (axis-angle, summed from the contributions below, converted with
Rodrigues' formula) drive :func:`forward_kinematics`, which is rigid, so bone lengths never change.
Every sequence has a little idle motion (breathing lean, head nod and turn, arms slightly abducted,
elbows and knees slightly bent) plus at least one of the named :data:`MOTION_TYPES`: at most one
leg motion (``walk_in_place`` with opposite arm swing, or ``squat`` with forward lean), at most one
arm motion (``arm_raise``: one or both arms raised sideways to forwards, up to 160 degrees;
``arm_swing``: pendulum swings with elbow bends) and optionally ``turn`` (rotation about the
vertical axis at a constant rate plus an oscillation).  Amplitudes, frequencies and phases are
random.  Knees and elbows only ever flex one way.  The pelvis height is set per frame so that the
lowest foot joint is 4 cm above the floor, so the person stands on the floor and squats down.

Camera: horizontal optical axis at a height of 0.85-1.05 m; the person stands 3.2-5.0 m in front
of it (pelvis depth), up to 0.4 m off-centre, with a uniformly random body yaw (people also face
away).  The floor is the plane y = camera height in camera coordinates.

Rendering: painter's algorithm on a supersampled canvas (4x below 128 px, 2x above), then area
downsampling.  Limbs are capsules shaded like cylinders (dark rim, lighter core), the torso a
quadrilateral between hips and shoulders over a spine capsule, the head a skin disc over a hair
disc (offset along the facing direction, so the face shows which way the person looks).  Left
limbs are light and right limbs dark (luminance differs by at least 50 even in grayscale), and
body colours keep a luminance distance of at least 40 from the mean wall and floor colours.  Parts
are drawn far to near by the depth of their nearest surface, and nearer parts are drawn slightly
brighter.  Frames are written as 3-channel JPEG (quality 90); the real frames are grayscale, which
loaders read the same way.

Randomness: every subject's body and every sequence's motion/camera and appearance come from
their own child of ``numpy.random.SeedSequence(seed)``, so a sequence does not depend on how many
subjects or sequences the dataset holds, its poses not on ``img_size``, and the first frames of
a longer sequence equal a shorter one's.  ``write_dataset`` depends on numpy and OpenCV only.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..clip_sampling import bounded_int
from .staging import frames_written, write_generated_dataset

GENERATOR_NAME = 'mmspike.pose_clips'
GENERATOR_VERSION = 1

SMPL_JOINT_NAMES = (
    'pelvis', 'L_hip', 'R_hip', 'spine1', 'L_knee', 'R_knee', 'spine2', 'L_ankle', 'R_ankle',
    'spine3', 'L_foot', 'R_foot', 'neck', 'L_collar', 'R_collar', 'head', 'L_shoulder',
    'R_shoulder', 'L_elbow', 'R_elbow', 'L_wrist', 'R_wrist', 'L_hand', 'R_hand')
SMPL_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
# Index of each joint's mirror image (left <-> right), e.g. for flip augmentation.
SMPL_FLIP_INDEX = (0, 2, 1, 3, 5, 4, 6, 8, 7, 9, 11, 10, 12, 14, 13, 15, 17, 16, 19, 18, 21, 20,
                   23, 22)
NUM_JOINTS = len(SMPL_JOINT_NAMES)

# Offset of every joint from its parent in the rest pose, metres, body frame (x left, y up,
# z forward); the pelvis entry is unused.  Roughly SMPL's neutral body with the arms hanging.
REST_OFFSETS = np.array([
    [0.000, 0.000, 0.000],    # pelvis
    [0.070, -0.090, -0.010],  # L_hip
    [-0.070, -0.090, -0.010],  # R_hip
    [0.000, 0.110, -0.020],   # spine1
    [0.030, -0.390, 0.000],   # L_knee
    [-0.030, -0.390, 0.000],  # R_knee
    [0.000, 0.135, 0.000],    # spine2
    [-0.010, -0.410, -0.040],  # L_ankle
    [0.010, -0.410, -0.040],  # R_ankle
    [0.000, 0.055, 0.020],    # spine3
    [0.020, -0.060, 0.120],   # L_foot
    [-0.020, -0.060, 0.120],  # R_foot
    [0.000, 0.220, -0.030],   # neck
    [0.075, 0.120, -0.010],   # L_collar
    [-0.075, 0.120, -0.010],  # R_collar
    [0.000, 0.090, 0.050],    # head
    [0.110, 0.035, -0.010],   # L_shoulder
    [-0.110, 0.035, -0.010],  # R_shoulder
    [0.020, -0.270, -0.010],  # L_elbow
    [-0.020, -0.270, -0.010],  # R_elbow
    [0.000, -0.250, 0.010],   # L_wrist
    [0.000, -0.250, 0.010],   # R_wrist
    [0.000, -0.085, 0.000],   # L_hand
    [0.000, -0.085, 0.000],   # R_hand
])
REST_OFFSETS.setflags(write=False)

TEST_SUBJECTS = (1, 2, 7)
SPLITS = ('train', 'test')
MOTION_TYPES = ('walk_in_place', 'arm_raise', 'arm_swing', 'squat', 'turn')
FPS = 15.0  # assumed frame rate of MMHPSD's grayscale camera; sets the motion's time scale
TIMES_PER_GROUP = 4

REAL_IMG_SIZE = 1280
REAL_INTRINSICS = (1679.3, 1679.3, 641.0, 641.0)  # fx, fy, cx, cy at REAL_IMG_SIZE

FRAME_DIR = 'mmhpsd_grayscale_img'
POSE_DIR = 'mmhpsd_events'
FRAME_TEMPLATE = FRAME_DIR + '/{action}/imgs/fullpic{index:04d}.jpg'
POSE_TEMPLATE = POSE_DIR + '/{action}/poses/pose_{index:04d}.npz'
POSE_KEYS = ('joints3d', 'joints2d', 'trans', 'body_pose', 'beta')
JPEG_QUALITY = 90

_ACTION_PATTERN = re.compile(r'^subject(\d{2})_group(\d+)_time(\d+)$')
_MAX_SUBJECT = 99
_MAX_FRAMES = 10000  # four-digit frame numbers
_MIN_SIZE = 16
_MAX_SIZE = 2048
_MIN_FRAMES = 2

# Body: per-subject scale ranges.
_SCALE_RANGE = (0.85, 1.15)
_BONE_JITTER_RANGE = (0.95, 1.05)
_GIRTH_RANGE = (0.85, 1.2)
_FOOT_JOINTS = (7, 8, 10, 11)
_SOLE_HEIGHT = 0.04  # metres from the lowest foot joint down to the floor

# Camera placement.
_DISTANCE_RANGE = (3.2, 5.0)
_LATERAL_RANGE = (-0.4, 0.4)
_CAMERA_HEIGHT_RANGE = (0.85, 1.05)

_X, _Y, _Z = 0, 1, 2
_DEG = np.pi / 180.0


# --------------------------------------------------------------------------------------------
# Camera and naming

def camera_intrinsics(img_size: int) -> tuple[float, float, float, float]:
    """(fx, fy, cx, cy) in pixels for square frames of ``img_size``: the real data's, scaled."""
    scale = img_size / REAL_IMG_SIZE
    fx, fy, cx, cy = REAL_INTRINSICS
    return fx * scale, fy * scale, cx * scale, cy * scale


def project(joints3d: np.ndarray, img_size: int) -> np.ndarray:
    """Pinhole projection of camera-frame points [..., 3] to [..., 3]: pixel x, y and 1.0."""
    joints3d = np.asarray(joints3d, dtype=np.float64)
    fx, fy, cx, cy = camera_intrinsics(img_size)
    out = np.ones(joints3d.shape, dtype=np.float64)
    out[..., 0] = fx * joints3d[..., 0] / joints3d[..., 2] + cx
    out[..., 1] = fy * joints3d[..., 1] / joints3d[..., 2] + cy
    return out


def action_name(subject: int, sequence: int) -> str:
    """MMHPSD-style name of a subject's ``sequence``-th (from 0) sequence."""
    group, time_ = divmod(sequence, TIMES_PER_GROUP)
    return f'subject{subject:02d}_group{group + 1}_time{time_ + 1}'


def parse_action_name(name: str) -> tuple[int, int, int]:
    """``'subject03_group1_time2'`` -> (3, 1, 2); ValueError for other names."""
    match = _ACTION_PATTERN.match(name)
    if match is None:
        raise ValueError(f'not an MMHPSD action name: {name!r}')
    return int(match[1]), int(match[2]), int(match[3])


def split_of(subject: int) -> str:
    """'test' for MMHPSD's test subjects 1, 2 and 7, else 'train'."""
    return 'test' if subject in TEST_SUBJECTS else 'train'


def frame_path(root, action: str, index: int) -> Path:
    return Path(root) / FRAME_TEMPLATE.format(action=action, index=index)


def pose_path(root, action: str, index: int) -> Path:
    return Path(root) / POSE_TEMPLATE.format(action=action, index=index)


# --------------------------------------------------------------------------------------------
# Kinematics

def axis_angle_to_matrix(rotvec: np.ndarray) -> np.ndarray:
    """Rotation matrices [..., 3, 3] of axis-angle vectors [..., 3] (Rodrigues' formula)."""
    rotvec = np.asarray(rotvec, dtype=np.float64)
    if rotvec.shape[-1:] != (3,):
        raise ValueError(f'axis-angle vectors need a last dimension of 3, got {rotvec.shape}')
    angle = np.linalg.norm(rotvec, axis=-1, keepdims=True)
    axis = rotvec / np.where(angle > 0.0, angle, 1.0)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    cross = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1)
    cross = cross.reshape(rotvec.shape[:-1] + (3, 3))
    sin = np.sin(angle)[..., None]
    cos = np.cos(angle)[..., None]
    return np.eye(3) + sin * cross + (1.0 - cos) * (cross @ cross)


def forward_kinematics(offsets: np.ndarray, rotations: np.ndarray,
                       root_position: np.ndarray | None = None,
                       parents=SMPL_PARENTS, return_rotations: bool = False):
    """Joint positions of a kinematic tree; pure function, float64.

    ``offsets`` [..., J, 3]: each joint's offset from its parent in the parent's rest frame
    (the root's entry is ignored).  ``rotations`` [..., J, 3, 3]: each joint's local rotation,
    which turns the offsets of its children (the root's is the global orientation).
    ``root_position`` [..., 3] (default 0).  ``parents``: the parent of each joint, -1 for the
    root (joint 0 only), every parent listed before its children.  Leading dimensions broadcast.

    With global rotations ``G[j] = G[parent] @ R[j]`` and ``p[j] = p[parent] + G[parent] @
    offset[j]``, so every bone keeps the length of its offset.  Returns positions [..., J, 3]
    and, with ``return_rotations``, also the global rotations [..., J, 3, 3].
    """
    offsets = np.asarray(offsets, dtype=np.float64)
    rotations = np.asarray(rotations, dtype=np.float64)
    parents = tuple(int(p) for p in parents)
    joints = len(parents)
    if joints == 0 or parents[0] != -1 or any(not 0 <= p < j for j, p in
                                                enumerate(parents) if j > 0):
        raise ValueError(f'parents must start with -1 and list every parent before its '
                         f'children, got {parents}')
    if offsets.shape[-2:] != (joints, 3):
        raise ValueError(f'offsets must have shape [..., {joints}, 3], got {offsets.shape}')
    if rotations.shape[-3:] != (joints, 3, 3):
        raise ValueError(f'rotations must have shape [..., {joints}, 3, 3], '
                         f'got {rotations.shape}')
    if root_position is None:
        root_position = np.zeros(3)
    root_position = np.asarray(root_position, dtype=np.float64)
    if root_position.shape[-1:] != (3,):
        raise ValueError(f'root_position must have shape [..., 3], got {root_position.shape}')
    batch = np.broadcast_shapes(offsets.shape[:-2], rotations.shape[:-3],
                                root_position.shape[:-1])
    offsets = np.broadcast_to(offsets, batch + (joints, 3))
    rotations = np.broadcast_to(rotations, batch + (joints, 3, 3))
    positions = np.empty(batch + (joints, 3))
    globals_ = np.empty(batch + (joints, 3, 3))
    positions[..., 0, :] = root_position
    globals_[..., 0, :, :] = rotations[..., 0, :, :]
    for joint in range(1, joints):
        parent = parents[joint]
        parent_rotation = globals_[..., parent, :, :]
        positions[..., joint, :] = positions[..., parent, :] + np.einsum(
            '...ij,...j->...i', parent_rotation, offsets[..., joint, :])
        globals_[..., joint, :, :] = parent_rotation @ rotations[..., joint, :, :]
    return (positions, globals_) if return_rotations else positions


# --------------------------------------------------------------------------------------------
# Random streams, body and motion

def _rng(seed: int, *key: int) -> np.random.Generator:
    """Child ``key`` of the seed's SeedSequence tree; key[0] names the stream (see _STREAM_*)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=tuple(key)))


_STREAM_BODY, _STREAM_MOTION, _STREAM_LOOK = 0, 1, 2


@dataclass(frozen=True)
class SubjectBody:
    """A subject's skeleton: bone offsets [24, 3] (metres) and a girth factor for drawing."""

    subject: int
    scale: float
    offsets: np.ndarray
    girth: float


def sample_subject_body(seed: int, subject: int) -> SubjectBody:
    """The body of ``subject``: rest pose times an overall scale and symmetric bone jitter."""
    rng = _rng(seed, _STREAM_BODY, subject)
    scale = rng.uniform(*_SCALE_RANGE)
    jitter = rng.uniform(*_BONE_JITTER_RANGE, NUM_JOINTS)
    flip = np.asarray(SMPL_FLIP_INDEX)
    jitter = np.where(np.arange(NUM_JOINTS) <= flip, jitter, jitter[flip])  # mirror = left's
    girth = rng.uniform(*_GIRTH_RANGE)
    return SubjectBody(subject=int(subject), scale=float(scale),
                       offsets=REST_OFFSETS * (scale * jitter)[:, None], girth=float(girth))


@dataclass(frozen=True)
class MotionSpec:
    """The named motions of a sequence (in MOTION_TYPES order) and all their parameters."""

    motions: tuple
    params: dict


def sample_motion(rng: np.random.Generator) -> MotionSpec:
    """Draw which motions a sequence mixes and their amplitudes, frequencies and phases.

    Every parameter is drawn whether or not its motion is used, so the number of draws is fixed.
    """
    leg = ('', 'walk_in_place', 'squat')[rng.choice(3, p=[0.2, 0.45, 0.35])]
    arm = ('', 'arm_raise', 'arm_swing')[rng.choice(3, p=[0.3, 0.35, 0.35])]
    turn = bool(rng.random() < 0.5)
    if not leg and not arm:
        turn = True
    u = rng.uniform
    tau = 2.0 * np.pi
    params = {
        # idle
        'lean': u(-3, 6) * _DEG, 'breath_freq': u(0.15, 0.35), 'breath_amp': u(1, 3) * _DEG,
        'breath_phase': u(0, tau),
        'nod_amp': u(2, 8) * _DEG, 'nod_freq': u(0.1, 0.4), 'nod_phase': u(0, tau),
        'look_amp': u(0, 25) * _DEG, 'look_freq': u(0.08, 0.3), 'look_phase': u(0, tau),
        'arm_abduction': u(6, 15) * _DEG, 'elbow_bend': u(8, 25) * _DEG,
        'knee_bend': u(0, 8) * _DEG,
        # walk_in_place
        'walk_freq': u(0.6, 1.1), 'walk_lift': u(25, 55) * _DEG, 'walk_phase': u(0, tau),
        'walk_arm_swing': u(15, 40) * _DEG, 'walk_sway': u(0.01, 0.04),
        # arm_raise
        'raise_freq': u(0.2, 0.5), 'raise_amp': u(60, 160) * _DEG,
        'raise_direction': u(0, np.pi / 2), 'raise_phase': u(0, tau),
        'raise_lag': (0.0 if rng.random() < 0.5 else u(0, tau)),
        'raise_arms': int(rng.choice(3, p=[0.5, 0.25, 0.25])),  # both, left, right
        'raise_elbow': u(0, 40) * _DEG,
        # arm_swing
        'swing_freq': u(0.5, 1.2), 'swing_amp': u(20, 60) * _DEG, 'swing_phase': u(0, tau),
        'swing_lag': u(0, tau), 'swing_forward': u(0, 0.4), 'swing_elbow': u(10, 90) * _DEG,
        # squat
        'squat_freq': u(0.2, 0.45), 'squat_depth': u(35, 85) * _DEG, 'squat_phase': u(0, tau),
        'squat_lean': u(0.3, 0.7), 'squat_arms_forward': float(rng.random() < 0.5),
        # turn
        'turn_rate': float(rng.choice([-1.0, 1.0])) * u(20, 70) * _DEG,
        'turn_amp': u(0, 40) * _DEG, 'turn_freq': u(0.2, 0.5), 'turn_phase': u(0, tau),
    }
    chosen = {leg, arm} | ({'turn'} if turn else set())
    motions = tuple(name for name in MOTION_TYPES if name in chosen)
    return MotionSpec(motions=motions, params={k: float(v) for k, v in params.items()})


def _smooth_positive(x: np.ndarray) -> np.ndarray:
    """A smooth max(x, 0) (always >= 0), so lifted legs fold without kinks."""
    return 0.5 * (x + np.sqrt(x * x + 0.01))


def joint_angles(motion: MotionSpec, times: np.ndarray) -> np.ndarray:
    """Local axis-angle rotations [T, 24, 3] of the motion at ``times`` (seconds).

    Angles are added per joint and body axis (x: the person's left, so flexion; y: up, twist;
    z: forward, abduction).  On the body's left a positive z turns a hanging arm outwards; on the
    right that is a negative z and a negative y, so the helper mirrors y and z for right joints.
    Sign conventions: a hanging limb swings forward under a negative x rotation, so hips and
    shoulders flex with -x, knees with +x (shin backwards) and elbows with -x (forearm forwards).
    The root's y angle is the turn; the camera adds the body's fixed yaw.
    """
    p = motion.params
    t = np.asarray(times, dtype=np.float64)
    angles = np.zeros((len(t), NUM_JOINTS, 3))

    def add(joint, axis, value, right=False):
        sign = -1.0 if right and axis != _X else 1.0
        angles[:, joint, axis] += sign * value

    def wave(freq, phase):
        return np.sin(2.0 * np.pi * freq * t + phase)

    def raise_curve(freq, phase):  # 0 -> 1 -> 0, smooth
        return 0.5 * (1.0 - np.cos(2.0 * np.pi * freq * t + phase))

    # Idle: breathing lean, nodding, looking around, relaxed arms and knees.
    add(3, _X, p['lean'] + p['breath_amp'] * wave(p['breath_freq'], p['breath_phase']))
    add(15, _X, p['nod_amp'] * wave(p['nod_freq'], p['nod_phase']))
    add(12, _Y, p['look_amp'] * wave(p['look_freq'], p['look_phase']))
    for right, (shoulder, elbow, hip, knee, ankle) in enumerate(
            [(16, 18, 1, 4, 7), (17, 19, 2, 5, 8)]):
        add(shoulder, _Z, p['arm_abduction'], right)
        add(elbow, _X, -p['elbow_bend'])
        add(hip, _X, -0.5 * p['knee_bend'])  # thigh forward, shin back, foot flat
        add(knee, _X, p['knee_bend'])
        add(ankle, _X, -0.5 * p['knee_bend'])

    if 'walk_in_place' in motion.motions:
        step = wave(p['walk_freq'], p['walk_phase'])
        swing = p['walk_arm_swing']
        for right, (shoulder, elbow, hip, knee, ankle, side) in enumerate(
                [(16, 18, 1, 4, 7, 1.0), (17, 19, 2, 5, 8, -1.0)]):
            lift = p['walk_lift'] * _smooth_positive(side * step)
            add(hip, _X, -lift)
            add(knee, _X, 1.7 * lift)
            add(ankle, _X, 0.3 * lift)  # toes point down while the foot is up
            arm_forward = -side * swing * step  # the arm opposite to the lifted leg goes forward
            add(shoulder, _X, -arm_forward)
            add(elbow, _X, -0.4 * swing * (1.0 - side * step))
        add(6, _Y, 0.25 * swing * step)  # shoulders counter-rotate

    if 'arm_raise' in motion.motions:
        direction = p['raise_direction']  # 0: sideways, pi/2: forwards
        used = {0: (1.0, 1.0), 1: (1.0, 0.0), 2: (0.0, 1.0)}[int(p['raise_arms'])]
        for right, (collar, shoulder, elbow) in enumerate([(13, 16, 18), (14, 17, 19)]):
            lag = p['raise_lag'] if right else 0.0
            lift = used[right] * p['raise_amp'] * raise_curve(p['raise_freq'],
                                                               p['raise_phase'] + lag)
            add(shoulder, _Z, np.cos(direction) * lift, right)
            add(shoulder, _X, -np.sin(direction) * lift)
            add(collar, _Z, 0.15 * np.cos(direction) * lift, right)
            add(elbow, _X, -p['raise_elbow'] * lift / p['raise_amp'])

    if 'arm_swing' in motion.motions:
        for right, (shoulder, elbow) in enumerate([(16, 18), (17, 19)]):
            phase = p['swing_phase'] + (p['swing_lag'] if right else 0.0)
            forward = p['swing_amp'] * (wave(p['swing_freq'], phase) + p['swing_forward'])
            add(shoulder, _X, -forward)
            bend = 0.5 * (1.0 + wave(p['swing_freq'], phase + 0.5 * np.pi))
            add(elbow, _X, -p['swing_elbow'] * bend)

    if 'squat' in motion.motions:
        depth = p['squat_depth'] * raise_curve(p['squat_freq'], p['squat_phase'])
        for right, (shoulder, hip, knee, ankle) in enumerate([(16, 1, 4, 7), (17, 2, 5, 8)]):
            add(hip, _X, -depth)
            add(knee, _X, 2.0 * depth)
            add(ankle, _X, -depth)  # shin tilts forward by `depth`; the foot stays flat
            add(shoulder, _X, -1.2 * p['squat_arms_forward'] * depth)
        add(3, _X, p['squat_lean'] * depth)

    if 'turn' in motion.motions:
        add(0, _Y, p['turn_rate'] * t + p['turn_amp'] * wave(p['turn_freq'], p['turn_phase']))
    return angles


# --------------------------------------------------------------------------------------------
# Sequences

@dataclass(frozen=True)
class Appearance:
    """How a sequence looks: background canvas and body colours (RGB) and widths."""

    supersampling: int
    background: np.ndarray  # (S*size, S*size, 3) uint8 RGB
    torso: np.ndarray  # (3,) float RGB
    left: np.ndarray
    right: np.ndarray
    skin: np.ndarray
    hair: np.ndarray


@dataclass(frozen=True)
class PoseSequence:
    """One generated sequence: poses in camera coordinates and everything needed to draw it."""

    action: str
    subject: int
    sequence: int
    img_size: int
    motions: tuple
    body: SubjectBody
    camera_height: float
    joints3d: np.ndarray  # (T, 24, 3) float64, camera frame, metres
    joints2d: np.ndarray  # (T, 24, 3) float64, pixels and 1.0
    head_forward: np.ndarray  # (T, 3) unit vector the face points along, camera frame
    appearance: Appearance

    @property
    def num_frames(self) -> int:
        return len(self.joints3d)

    @property
    def trans(self) -> np.ndarray:
        """Pelvis positions (T, 1, 3), camera frame."""
        return self.joints3d[:, :1, :].copy()


# World frame: x, y up, z; the camera sits at (0, camera_height, 0) looking along world -z, so
# camera = diag(1, -1, -1) @ (world - camera_centre): +x right, +y down, +z forward.
_WORLD_TO_CAMERA = np.diag([1.0, -1.0, -1.0])


def sequence_poses(seed: int, subject: int, sequence: int, num_frames: int):
    """Poses of one sequence without rendering: (joints3d [T, 24, 3] camera frame, head forward
    [T, 3] camera frame, MotionSpec, SubjectBody, camera height)."""
    bounded_int('seed', seed, 0)
    bounded_int('subject', subject, 1, _MAX_SUBJECT)
    bounded_int('sequence', sequence, 0)
    bounded_int('num_frames', num_frames, _MIN_FRAMES, _MAX_FRAMES)
    body = sample_subject_body(seed, subject)
    rng = _rng(seed, _STREAM_MOTION, subject, sequence)
    motion = sample_motion(rng)
    distance = rng.uniform(*_DISTANCE_RANGE)
    lateral = rng.uniform(*_LATERAL_RANGE)
    camera_height = rng.uniform(*_CAMERA_HEIGHT_RANGE)
    yaw = rng.uniform(-np.pi, np.pi)

    times = np.arange(num_frames) / FPS
    angles = joint_angles(motion, times)
    angles[:, 0, _Y] += yaw
    local, global_ = forward_kinematics(body.offsets, axis_angle_to_matrix(angles),
                                        return_rotations=True)
    # Stand on the floor (world y = 0) and sway sideways while stepping in place.
    root = np.zeros((num_frames, 3))
    root[:, 1] = _SOLE_HEIGHT - local[:, _FOOT_JOINTS, 1].min(axis=1)
    if 'walk_in_place' in motion.motions:
        step = np.sin(2.0 * np.pi * motion.params['walk_freq'] * times
                      + motion.params['walk_phase'])
        sideways = global_[:, 0, :, _X]  # the body's left in the world
        root -= motion.params['walk_sway'] * step[:, None] * sideways * np.array([1.0, 0.0, 1.0])
    root += np.array([lateral, 0.0, -distance])
    world = local + root[:, None, :]
    joints3d = (world - np.array([0.0, camera_height, 0.0])) @ _WORLD_TO_CAMERA.T
    head_forward = global_[:, 15, :, _Z] @ _WORLD_TO_CAMERA.T
    return joints3d, head_forward, motion, body, float(camera_height)


def _supersampling(img_size: int) -> int:
    return 4 if img_size < 128 else 2


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114])


def _smooth_noise(rng: np.random.Generator, size: int) -> np.ndarray:
    cells = int(rng.integers(3, 8))
    grid = rng.uniform(-1.0, 1.0, (cells, cells, 3)).astype(np.float32)
    return cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC).astype(np.float64)


def _render_background(rng: np.random.Generator, img_size: int, supersampling: int,
                       camera_height: float) -> tuple[np.ndarray, float, float]:
    """Wall (colour blobs, gradient, grain) above the horizon and a perspective checkered floor
    below it; returns the canvas (uint8 RGB) and the mean wall and floor luminances."""
    canvas = img_size * supersampling
    fx, fy, cx, cy = camera_intrinsics(img_size)
    # Canvas pixel centres in output pixel units.
    coords = (np.arange(canvas) + 0.5) / supersampling - 0.5
    u, v = np.meshgrid(coords, coords)
    wall_base = rng.uniform(50.0, 200.0, 3)
    wall = (wall_base + _smooth_noise(rng, canvas) * rng.uniform(15.0, 35.0)
            + ((v - cy) / img_size)[..., None] * rng.uniform(-40.0, 40.0, 3))
    floor_base = np.clip(wall_base + rng.uniform(-60.0, 60.0, 3), 30.0, 225.0)
    floor_contrast = rng.uniform(15.0, 35.0)
    tile = rng.uniform(0.4, 0.8)
    turn = rng.uniform(0.0, np.pi / 2)
    below = v > cy + 0.5
    depth = camera_height * fy / np.maximum(v - cy, 0.5)
    ground_x = (u - cx) * depth / fx
    along = np.cos(turn) * ground_x + np.sin(turn) * depth
    across = -np.sin(turn) * ground_x + np.cos(turn) * depth
    parity = (np.floor(along / tile) + np.floor(across / tile)) % 2.0
    fade = np.exp(-depth / 12.0)  # far tiles blend into their mean instead of aliasing
    floor = floor_base + (floor_contrast * (2.0 * parity - 1.0) * fade)[..., None]
    image = np.where(below[..., None], floor, wall)
    image += rng.normal(0.0, 3.0, image.shape)
    image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    wall_lum = float(_luminance(image[~below].astype(np.float64)).mean())
    floor_lum = float(_luminance(image[below].astype(np.float64)).mean()) if below.any() \
        else wall_lum
    return image, wall_lum, floor_lum


def _body_colours(rng: np.random.Generator, wall_lum: float, floor_lum: float):
    """Torso, left and right colours that stand out from wall and floor; left lighter than
    right.  Candidates are drawn in one fixed-size batch and the first that fits is taken."""
    candidates = rng.uniform(0.0, 255.0, (4096, 3, 3))  # (candidate, torso/left/right, rgb)
    lum = _luminance(candidates)
    distance = np.minimum(np.abs(lum - wall_lum), np.abs(lum - floor_lum))
    ok = (distance >= 40.0).all(axis=1) & (lum[:, 1] - lum[:, 2] >= 50.0)
    if ok.any():
        torso, left, right = candidates[int(np.argmax(ok))]
    else:  # practically unreachable; still readable
        torso, left, right = np.full(3, 128.0), np.full(3, 235.0), np.full(3, 20.0)
    darkness = rng.uniform()
    skin = (1.0 - darkness) * np.array([255.0, 220.0, 190.0]) \
        + darkness * np.array([110.0, 70.0, 50.0])
    hair = rng.uniform(10.0, 90.0) * np.array([1.0, rng.uniform(0.7, 1.0), rng.uniform(0.5, 1.0)])
    return torso, left, right, skin, hair


def sample_sequence(seed: int, subject: int, sequence: int, num_frames: int = 64,
                    img_size: int = 64) -> PoseSequence:
    """Everything about one sequence: poses, projections and appearance (not yet pixels)."""
    bounded_int('img_size', img_size, _MIN_SIZE, _MAX_SIZE)
    joints3d, head_forward, motion, body, camera_height = sequence_poses(
        seed, subject, sequence, num_frames)
    rng = _rng(seed, _STREAM_LOOK, subject, sequence)
    supersampling = _supersampling(img_size)
    background, wall_lum, floor_lum = _render_background(rng, img_size, supersampling,
                                                         camera_height)
    torso, left, right, skin, hair = _body_colours(rng, wall_lum, floor_lum)
    look = Appearance(supersampling=supersampling, background=background, torso=torso,
                      left=left, right=right, skin=skin, hair=hair)
    return PoseSequence(action=action_name(subject, sequence), subject=int(subject),
                        sequence=int(sequence), img_size=int(img_size),
                        motions=motion.motions, body=body, camera_height=camera_height,
                        joints3d=joints3d, joints2d=project(joints3d, img_size),
                        head_forward=head_forward, appearance=look)


# --------------------------------------------------------------------------------------------
# Rendering

# (parent, child, width in metres at scale 1, part); the part picks the colour.
_CAPSULES = (
    (0, 3, 0.24, 'torso'), (3, 6, 0.26, 'torso'), (6, 9, 0.28, 'torso'), (9, 12, 0.22, 'torso'),
    (0, 1, 0.16, 'torso'), (0, 2, 0.16, 'torso'),
    (9, 13, 0.14, 'torso'), (9, 14, 0.14, 'torso'), (13, 16, 0.12, 'torso'),
    (14, 17, 0.12, 'torso'), (12, 15, 0.09, 'skin'),
    (1, 4, 0.15, 'left'), (4, 7, 0.11, 'left'), (7, 10, 0.08, 'left'),
    (2, 5, 0.15, 'right'), (5, 8, 0.11, 'right'), (8, 11, 0.08, 'right'),
    (16, 18, 0.10, 'left'), (18, 20, 0.08, 'left'), (20, 22, 0.07, 'left'),
    (17, 19, 0.10, 'right'), (19, 21, 0.08, 'right'), (21, 23, 0.07, 'right'),
)
_TORSO_QUAD = (1, 2, 17, 16)
_HEAD_RADIUS = 0.10  # metres at scale 1
_HEAD_LIFT = 0.07  # head centre above the head joint, along neck -> head
_SHIFT = 4  # fixed-point bits for OpenCV drawing


def _canvas_points(points: np.ndarray, img_size: int, supersampling: int) -> np.ndarray:
    """Camera-frame points [N, 3] -> fixed-point canvas pixel coordinates [N, 2] int32."""
    pixels = project(points, img_size)[:, :2]
    canvas = (pixels + 0.5) * supersampling - 0.5
    return np.rint(canvas * (1 << _SHIFT)).astype(np.int32)


def _shade(colour: np.ndarray, factor: float) -> tuple:
    return tuple(float(c) for c in np.clip(colour * factor, 0.0, 255.0))


def _draw_capsule(canvas, a, b, width_px, colour, brightness):
    """A limb: dark rim, mid body, light core, each a round-capped line."""
    for width_factor, shade in ((1.0, 0.6), (0.7, 0.9), (0.3, 1.15)):
        thickness = max(1, int(round(width_px * width_factor)))
        cv2.line(canvas, tuple(int(x) for x in a), tuple(int(x) for x in b),
                 _shade(colour, shade * brightness), thickness, cv2.LINE_AA, _SHIFT)


def _draw_disc(canvas, centre, radius_px, colour, brightness):
    for radius_factor, shade in ((1.0, 0.65), (0.8, 1.0)):
        radius = max(1, int(round(radius_px * radius_factor * (1 << _SHIFT))))
        cv2.circle(canvas, tuple(int(x) for x in centre), radius,
                   _shade(colour, shade * brightness), -1, cv2.LINE_AA, _SHIFT)


def _frame_items(seq: PoseSequence, index: int):
    """The drawing items of one frame as (depth of nearest surface, draw function)."""
    look = seq.appearance
    size, ss = seq.img_size, look.supersampling
    fx = camera_intrinsics(size)[0] * ss
    joints = seq.joints3d[index]
    points = _canvas_points(joints, size, ss)
    pelvis_depth = joints[0, 2]
    colours = {'torso': look.torso, 'left': look.left, 'right': look.right, 'skin': look.skin}
    girth = seq.body.scale * seq.body.girth

    def brightness(depth):  # nearer than the pelvis: brighter
        return float(np.clip(1.0 + 0.3 * (pelvis_depth - depth), 0.8, 1.2))

    items = []
    for parent, child, width, part in _CAPSULES:
        depth = 0.5 * (joints[parent, 2] + joints[child, 2])
        width_m = width * girth
        width_px = fx * width_m / depth
        items.append((depth - 0.5 * width_m,
                      lambda c, a=points[parent], b=points[child], w=width_px,
                      col=colours[part], br=brightness(depth):
                      _draw_capsule(c, a, b, w, col, br)))
    quad = joints[list(_TORSO_QUAD)]
    quad_depth = quad[:, 2].mean()
    items.append((quad_depth - 0.1 * girth,
                  lambda c, pts=points[list(_TORSO_QUAD)], col=look.torso,
                  br=brightness(quad_depth):
                  cv2.fillPoly(c, [pts], _shade(col, 0.9 * br), cv2.LINE_AA, _SHIFT)))

    # Head: a hair disc behind and a face disc in front, along the facing direction.
    up = joints[15] - joints[12]
    centre = joints[15] + _HEAD_LIFT * seq.body.scale * up / np.linalg.norm(up)
    radius = _HEAD_RADIUS * seq.body.scale
    forward = seq.head_forward[index]
    hair = centre - 0.3 * radius * forward
    face = centre + 0.3 * radius * forward
    discs = sorted([(hair[2], hair, 0.95 * radius, look.hair),
                    (face[2], face, 0.85 * radius, look.skin)], key=lambda d: -d[0])
    disc_points = _canvas_points(np.stack([discs[0][1], discs[1][1]]), size, ss)

    def draw_head(c, discs=discs, pts=disc_points, br=brightness(centre[2])):
        for (depth, _, r, col), pt in zip(discs, pts):
            _draw_disc(c, pt, fx * r / depth, col, br)

    items.append((centre[2] - radius, draw_head))
    return items


def render_background(seq: PoseSequence) -> np.ndarray:
    """The sequence's empty background as a frame shows it, (size, size, 3) uint8 RGB."""
    size = seq.img_size
    return cv2.resize(seq.appearance.background, (size, size), interpolation=cv2.INTER_AREA)


def render_frame(seq: PoseSequence, index: int) -> np.ndarray:
    """Frame ``index`` of the sequence, (size, size, 3) uint8 RGB."""
    canvas = seq.appearance.background.copy()
    for _, draw in sorted(_frame_items(seq, index), key=lambda item: -item[0]):  # far first
        draw(canvas)
    size = seq.img_size
    return cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)


def render_frames(seq: PoseSequence) -> np.ndarray:
    """All frames, (T, size, size, 3) uint8 RGB."""
    return np.stack([render_frame(seq, index) for index in range(seq.num_frames)])


# --------------------------------------------------------------------------------------------
# Dataset on disk

def _normalise_subjects(subjects) -> list[int]:
    try:
        values = list(subjects)
    except TypeError:
        raise ValueError(f'subjects must be a sequence of integers, got {subjects!r}') from None
    if not values:
        raise ValueError('subjects must not be empty')
    checked = [bounded_int('subject', s, 1, _MAX_SUBJECT) for s in values]
    if len(set(checked)) != len(checked):
        raise ValueError(f'subjects must be distinct, got {values!r}')
    return sorted(checked)


def _planned_actions(subjects, sequences_per_subject) -> list[tuple[int, int, str]]:
    return [(subject, sequence, action_name(subject, sequence))
            for subject in subjects for sequence in range(sequences_per_subject)]


def _meta(seed, subjects, sequences_per_subject, frames_per_sequence, img_size) -> dict:
    fx, fy, cx, cy = camera_intrinsics(img_size)
    planned = _planned_actions(subjects, sequences_per_subject)
    motions = {action: list(sample_motion(_rng(seed, _STREAM_MOTION, subject, sequence)).motions)
               for subject, sequence, action in planned}
    return {
        'generator': GENERATOR_NAME,
        'generator_version': GENERATOR_VERSION,
        'seed': seed,
        'subjects': subjects,
        'sequences_per_subject': sequences_per_subject,
        'frames_per_sequence': frames_per_sequence,
        'img_size': img_size,
        'fps': FPS,
        'intrinsics': {'fx': fx, 'fy': fy, 'cx': cx, 'cy': cy},
        'coordinates': 'camera frame, metres: x right, y down, z forward',
        'body_model': 'not SMPL: body_pose and beta are zeros, trans is the pelvis',
        'test_subjects': list(TEST_SUBJECTS),
        'split': {split: [action for subject, _, action in planned
                          if split_of(subject) == split] for split in SPLITS},
        'motions': motions,
        'joint_names': list(SMPL_JOINT_NAMES),
        'parents': list(SMPL_PARENTS),
        'flip_index': list(SMPL_FLIP_INDEX),
        'frame_template': FRAME_TEMPLATE,
        'pose_template': POSE_TEMPLATE,
    }


def _dataset_is_complete(root: Path, meta: dict) -> bool:
    actions = [action for actions in meta['split'].values() for action in actions]
    return frames_written(root, actions, meta['frames_per_sequence'], frame_path, pose_path)


def write_sequence(root, seq: PoseSequence) -> None:
    """Write one sequence's frames (JPEG) and poses (npz) under ``root`` in the MMHPSD layout."""
    frame_dir = frame_path(root, seq.action, 0).parent
    pose_dir = pose_path(root, seq.action, 0).parent
    frame_dir.mkdir(parents=True, exist_ok=True)
    pose_dir.mkdir(parents=True, exist_ok=True)
    zeros_pose, zeros_beta = np.zeros((1, 72)), np.zeros((1, 10))
    for index in range(seq.num_frames):
        bgr = cv2.cvtColor(render_frame(seq, index), cv2.COLOR_RGB2BGR)
        path = frame_path(root, seq.action, index)
        if not cv2.imwrite(str(path), bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
            raise RuntimeError(f'OpenCV could not write {path}')
        np.savez(pose_path(root, seq.action, index),
                 joints3d=seq.joints3d[index], joints2d=seq.joints2d[index],
                 trans=seq.joints3d[index, :1], body_pose=zeros_pose, beta=zeros_beta)


def write_dataset(root, subjects=(1, 2, 3, 4, 5, 6, 7, 8), sequences_per_subject: int = 4,
                  frames_per_sequence: int = 64, img_size: int = 64, seed: int = 0) -> dict:
    """Write the dataset under ``root`` (if not already there) and return its meta data.

    Defaults: subjects 1-8 (test: 1, 2, 7; train: 3-6, 8), 4 sequences each (group1,
    time1-4), 64 frames per sequence (4.3 s at 15 fps), 64 x 64 frames: 2048 frames in all.
    If ``root/meta.json`` equals the meta data of these arguments and every file is there,
    nothing is written.  Otherwise the dataset is built in ``<root>.tmp-<pid>`` and swapped in
    when complete; a non-empty ``root`` that this generator did not write is never replaced.
    """
    seed = bounded_int('seed', seed, 0)
    subjects = _normalise_subjects(subjects)
    sequences_per_subject = bounded_int('sequences_per_subject', sequences_per_subject, 1)
    frames_per_sequence = bounded_int('frames_per_sequence', frames_per_sequence, _MIN_FRAMES,
                                      _MAX_FRAMES)
    img_size = bounded_int('img_size', img_size, _MIN_SIZE, _MAX_SIZE)
    meta = _meta(seed, subjects, sequences_per_subject, frames_per_sequence, img_size)

    def write_files(staging):
        planned = _planned_actions(subjects, sequences_per_subject)
        for subject, sequence, _ in planned:
            write_sequence(staging, sample_sequence(seed, subject, sequence,
                                                    frames_per_sequence, img_size))
        return f'{len(planned)} sequences x {frames_per_sequence} frames'

    return write_generated_dataset(root, meta, 'pose_clips',
                                   lambda root: _dataset_is_complete(root, meta), write_files)
