"""The workflow's stages: module ``a3t.stages.<name>`` is the command line that rules/<name>.smk runs."""
