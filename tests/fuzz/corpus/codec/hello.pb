
encoderÒ	encoderboom 