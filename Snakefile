# a3t: A3T (ReAct meets ActRe) as a Snakemake workflow. Target: results/round<k>/eval.json.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/default.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/games.smk"
include: "rules/demos.smk"
include: "rules/base_model.smk"
include: "rules/convert_base.smk"
include: "rules/dagger.smk"
include: "rules/rollout.smk"
include: "rules/explore.smk"
include: "rules/filter.smk"
include: "rules/dataset.smk"
include: "rules/train.smk"
include: "rules/export_gguf.smk"
include: "rules/evaluate.smk"
include: "rules/gather.smk"
include: "rules/report.smk"


rule all:
    """Every round's evaluation, up to config["rounds"], and the table of rounds."""
    input:
        expand("results/round{k}/eval.json", k=range(config["rounds"] + 1)),
        "results/summary.csv",
