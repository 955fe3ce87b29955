"""Training π_{t+1} from π_t on preference pairs: log-probabilities, losses, the one accelerate loop, tracking."""
