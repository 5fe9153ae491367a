"""Chinese text pipeline shared by search and classification."""
from index.text.normalize import Normalizer, has_content, normalize
from index.text.pii import mask_field, mask_pii
from index.text.tokenizer import Tokenizer, get_tokenizer

__all__ = ["Normalizer", "normalize", "has_content", "mask_pii", "mask_field", "Tokenizer", "get_tokenizer"]
