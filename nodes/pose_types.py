"""Socket types passed between the pose nodes (one place, so every pose module can import them without cycles)."""

from __future__ import annotations

from .host import io

CATEGORY = "RealisDance/pose"

BodyModelType = io.Custom("REALISDANCE_BODY_MODEL")  # nodes.pose.BodyModels
SMPLXSequenceType = io.Custom("REALISDANCE_SMPLX_SEQUENCE")  # realisdance.pose.SMPLXSequence
BodyShapeType = io.Custom("REALISDANCE_BODY_SHAPE")  # realisdance.pose.ShapeFitResult (fitted betas + report)
HamerHandsType = io.Custom("REALISDANCE_HAMER_HANDS")  # realisdance.pose.HandDetections
# The name comfyui_controlnet_aux and other pose packs use: a list of OpenPose-style frame dicts.
PoseKeypointType = io.Custom("POSE_KEYPOINT")
