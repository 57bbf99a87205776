"""Weekly vegetable sales in, clean monthly sales out."""
