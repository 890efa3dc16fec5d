"""Who plays and who explains: the language agent (transformers or vLLM), the scripted and prompted
teachers, ActRe (scripted or prompted), and the episode runner they all play through."""
