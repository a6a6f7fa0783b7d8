"""Maintainer tool: regenerate the word lists under ``medgrpo/resources/deid``.

Not imported at run time. It reads name and word data from two PyPI packages that are *not*
runtime dependencies (``faker`` for person names of many locales, ``wordfreq`` and
``english-words`` for English vocabulary)::

    pip install --target /tmp/deidtools faker wordfreq english-words
    PYTHONPATH=/tmp/deidtools python -m medgrpo.deid._build_resources

All names go into the engine's dictionary; the synthetic corpus measures out-of-dictionary names
with invented names instead (``medgrpo.deid.corpus``), so the figures stay honest.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import unicodedata
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "resources" / "deid"
_LATIN = re.compile(r"^[A-Za-z\u00C0-\u024F\u1E00-\u1EFF'’-]{2,}$")

# Transliterated names for locales whose Faker data is in another script.
EXTRA_FIRST = """
Mohammed Muhammad Mohamed Ahmed Ahmad Mahmoud Mustafa Omar Umar Ali Hassan Hussein Hussain Ibrahim Ismail
Youssef Yusuf Khalid Khaled Tariq Karim Kareem Samir Nabil Walid Rashid Hamza Bilal Faisal Anwar Jamal Salim
Fatima Fatimah Aisha Ayesha Khadija Maryam Mariam Zainab Layla Leila Noor Nour Amira Yasmin Yasmeen Salma Huda
Rania Dina Hana Samira Farah Lina Reem Abdullah Abdulrahman Abdelaziz Soraya Reza Mehdi Hossein Parisa Shirin
Darius Cyrus Arash Kourosh Navid Farid Nasrin Golnaz Roya Yitzhak Moshe Avraham Shlomo Yosef Chaim Eliezer
Rivka Shira Tamar Noa Yael Dmitri Dmitry Sergei Sergey Vladimir Ivan Alexei Alexey Nikolai Mikhail Andrei Oleg
Igor Yuri Pavel Boris Natalia Natasha Svetlana Olga Tatiana Irina Ekaterina Anastasia Ludmila Galina Oksana
Giorgos Yiannis Dimitris Konstantinos Eleni Katerina Despina Vasiliki Sipho Thabo Themba Nomvula Thandiwe
Chidi Chukwuemeka Ngozi Adaeze Oluwaseun Olumide Adebayo Folake Yetunde Kwame Kofi Ama Akosua Abena Yaw
Wanjiru Njeri Kamau Otieno Achieng Hiroshi Takashi Kenji Yuki Haruto Sakura Aiko Yumi Keiko Satoshi Minjun
Jiwoo Seoyeon Jisoo Hyun Wei Jing Xiaoming Yan Mei Ling Jun Hao Lei Xin Anh Minh Linh Thanh Huong Tuan
Priya Anjali Aarav Arjun Rohan Vikram Rahul Sanjay Deepak Sunita Lakshmi Kavya Ananya Ravi Suresh Ramesh
Xochitl Itzel Guadalupe Yolanda Ximena Quetzalli Tupac Inti Siobhan Niamh Aoife Saoirse Padraig Eoghan Ciaran
"""
EXTRA_LAST = """
Al-Sayed Alsayed Haddad Khoury Nasser Saleh Mansour Hamdan Darwish Abdullah Rahman Rahmani Hosseini Ahmadi
Mohammadi Karimi Rezaei Moradi Jafari Tehrani Najafi Cohen Levi Levy Katz Friedman Goldberg Rosenberg
Shapiro Weiss Klein Mizrahi Peretz Ivanov Ivanova Petrov Petrova Smirnov Smirnova Sokolov Popov Kuznetsov
Volkov Morozov Novikov Fedorov Pavlov Kozlov Lebedev Orlov Papadopoulos Papadakis Georgiou Nikolaidis
Dlamini Nkosi Ndlovu Mthembu Khumalo Okafor Okonkwo Nwosu Adeyemi Adebayo Okoro Balogun Mensah Owusu Boateng
Asante Kariuki Mwangi Odhiambo Onyango Tanaka Suzuki Takahashi Watanabe Yamamoto Nakamura Kobayashi Sato
Kim Lee Park Choi Jung Kang Cho Yoon Jang Lim Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou Xu Sun Ma Zhu Hu
Guo Lin He Gao Luo Nguyen Tran Le Pham Hoang Phan Vu Dang Bui Do Ngo Duong Ly Patel Shah Sharma Singh Kumar
Gupta Reddy Iyer Nair Menon Rao Desai Joshi Chatterjee Banerjee Mukherjee Das Bose Kapoor Malhotra Mehta
Hernandez Gonzalez Rodriguez Martinez Lopez Perez Sanchez Ramirez Torres Flores Rivera Gomez Diaz Cruz Morales
Ortiz Gutierrez Chavez Ramos Ruiz Alvarez Castillo Jimenez Moreno Romero Herrera Medina Aguilar Vargas Quispe
Mamani Huaman O'Brien O'Connor O'Sullivan McCarthy McLaughlin MacDonald Fitzgerald Gallagher Kowalski Nowak
Wisniewski Wojcik Kowalczyk Kaminski Lewandowski Zielinski Szymanski Novak Horvath Nagy Kovacs Toth Szabo
"""


def _fold(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


def _tokens(value: Any) -> list[str]:
    if isinstance(value, dict):
        value = list(value.keys())
    out: list[str] = []
    for item in value:
        for tok in re.split(r"[\s]+", str(item)):
            tok = tok.strip(".,")
            if _LATIN.match(tok):
                out.append(tok)
    return out


def main() -> None:
    """Write the resource lists."""
    import faker.providers.person as person
    import wordfreq
    from english_words import get_english_words_set

    first: set[str] = set(EXTRA_FIRST.split())
    last: set[str] = set(EXTRA_LAST.split())
    for mod in pkgutil.iter_modules(person.__path__):
        try:
            provider = importlib.import_module(f"faker.providers.person.{mod.name}").Provider
        except Exception:  # pragma: no cover - a broken locale
            continue
        for attr in ("first_names", "first_names_male", "first_names_female", "first_romanized_names"):
            if isinstance(getattr(provider, attr, None), list | tuple | dict):
                first.update(_tokens(getattr(provider, attr)))
        for attr in ("last_names", "last_romanized_names"):
            if isinstance(getattr(provider, attr, None), list | tuple | dict):
                last.update(_tokens(getattr(provider, attr)))

    first_keep, last_keep = sorted(first), sorted(last)
    dict_lower = {n.lower() for n in first_keep + last_keep} | {_fold(n).lower() for n in first_keep + last_keep}

    web2 = get_english_words_set(["web2"], lower=False, alpha=True)
    web2_lower = {w for w in web2 if w.islower()}
    english = []
    for word in wordfreq.top_n_list("en", 60000):
        if not word.isalpha() or len(word) < 2:
            continue
        if word in dict_lower and word not in web2_lower:
            continue  # a name that is not otherwise an English word
        english.append(word)

    OUT.mkdir(parents=True, exist_ok=True)
    header = "# generated by medgrpo.deid._build_resources; one entry per line\n"
    (OUT / "first_names.txt").write_text(header + "\n".join(first_keep) + "\n", encoding="utf-8")
    (OUT / "last_names.txt").write_text(header + "\n".join(last_keep) + "\n", encoding="utf-8")
    (OUT / "english_words.txt").write_text(header + "\n".join(english) + "\n", encoding="utf-8")  # by frequency
    print(len(first_keep), len(last_keep), len(english))


if __name__ == "__main__":
    main()
