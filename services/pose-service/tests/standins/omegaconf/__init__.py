class OmegaConf:
    @staticmethod
    def structured(node):
        return node() if isinstance(node, type) else node
