"""The init doctor: does a model's signal survive its initialization, and what would fix it?

`examine(model, batch)` measures, for every weight layer in forward order, the kernel's
std against what He (2015), Glorot & Bengio (2010) and LeCun ask for with the layer's
own fans, the post-activation signal (mean, std, dead ReLU units, saturated tanh /
sigmoid units), the back-propagated gradient and the weight gradient, and the
whole-net forward and backward gains (last layer over first). It flags vanishing or
exploding signals and gradients, dead and saturated layers and fan mismatches, each in
plain language with its threshold, and convolutions whose "same" padding hides part
of their kernel on small feature maps (where every fan-in rule over-counts the
inputs). The same measurements are made for candidate
initializations, each drawn on a copy: the model itself is never changed.

    from initializers.doctor import examine
    report = examine(model, images[:8])
    print(report.to_markdown()); report.plot("doctor.png")

Modules: `measure` (the numbers of one model state), `flags` (findings and their
thresholds), `examination` (`examine`: every method, the recommendation), `report`
(`DoctorReport`: markdown, JSON, figure), `cli` (`python -m initializers.doctor MODEL
--out DIR`, see `--help`).
"""

from initializers.doctor.examination import DEFAULT_METHODS, examine, recommend
from initializers.doctor.report import DoctorReport, MethodResult

__all__ = ["DEFAULT_METHODS", "DoctorReport", "MethodResult", "examine", "recommend"]
