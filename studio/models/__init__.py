"""The classifier zoo shared by every engine: torchvision ImageNet nets, CIFAR teachers, the toy ToyVGG."""
