"""One config module per paper (profiles, `get_experiment`); helpers they share."""

from reproductions import data


def plain_net_kwargs(depth, width_multiplier, stem, dataset):
    """`models.PlainNet` keyword arguments of a run config on `dataset`.

    `stem` is left out when it is PlainNet's default ("paper"), so the run folders
    written before the option existed still match their configs and resume.
    """
    kwargs = dict(depth=depth, width_multiplier=width_multiplier,
                  input_shape=list(data.input_shape(dataset)), num_classes=data.num_classes(dataset))
    if stem != "paper":
        kwargs["stem"] = stem
    return kwargs
