"""Search: reward, controller, strategies, evaluator, history and reporting."""
