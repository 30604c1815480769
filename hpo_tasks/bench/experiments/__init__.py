"""Small runnable experiments on the bench problems and samplers."""
