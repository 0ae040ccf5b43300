"""A small catalog file with the Myntra columns, written on the fly for the training and evaluation tests."""
import csv
from pathlib import Path

COLUMNS = ["Product_ID", "Product_Name", "Product_Brand", "Gender", "Price", "Num_Images", "Description", "Primary_Color"]
_ITEMS = [
    ("Parx Men {c} Slim Fit Checked Casual Shirt", "Parx", "Men", "{c} checked casual shirt, has a spread collar, long sleeves"),
    ("SHOWOFF Men {c} Solid Regular Shorts", "SHOWOFF", "Men", "{c} solid regular shorts, has a button closure"),
    ("Anouk Women {c} Printed Cotton Kurta", "Anouk", "Women", "{c} printed cotton kurta, has a round neck"),
]
_COLOURS = ["Blue", "Black", "Red", "Green", "White", "Grey", "Pink", "Navy Blue", "Maroon", "Olive"]


def write_sample(path: Path, count: int = 30) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for n in range(count):
            title, brand, gender, description = _ITEMS[n % 3]
            colour = _COLOURS[n % len(_COLOURS)]
            writer.writerow({
                "Product_ID": str(1000 + n), "Product_Name": title.format(c=colour), "Product_Brand": brand,
                "Gender": gender, "Price": str(500 + 10 * n), "Num_Images": "5",
                "Description": description.format(c=colour) + (". Warranty: 2 years" if n % 5 == 0 else ""),
                "Primary_Color": colour,
            })
    return path
