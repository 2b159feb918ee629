"""A hand-made ESCO folder: the §4.2/§4.4 example graph plus edge cases.

Skills Python, Java, Statistics (software developer: Python, Java; data
scientist: Python, Statistics) and Cooking (cook, and an occupation that only
a relation row names). Expected, hand-derived: d(Python, Java) = 2,
d(Python, Statistics) = 2, d(Java, Statistics) = 4, Cooking unreachable from
the others; the skill group `G0` only links to an ISCED-F field.
"""

from __future__ import annotations

import csv
import pathlib

ESCO = "http://data.europa.eu/esco"
PYTHON = f"{ESCO}/skill/python"
JAVA = f"{ESCO}/skill/java"
STATS = f"{ESCO}/skill/statistics"
COOKING = f"{ESCO}/skill/cooking"
G0 = f"{ESCO}/skill/group-digital"
ISCED = f"{ESCO}/isced-f/061"
DEV = f"{ESCO}/occupation/software-developer"
DS = f"{ESCO}/occupation/data-scientist"
COOK = f"{ESCO}/occupation/cook"
GHOST = f"{ESCO}/occupation/only-in-relations"

SKILL_ROWS = [
    # conceptType, conceptUri, skillType, reuseLevel, preferredLabel, altLabels
    ["KnowledgeSkillCompetence", PYTHON, "knowledge", "cross-sector",
     "Python", "Python programming\npython 3"],
    ["KnowledgeSkillCompetence", JAVA, "knowledge", "cross-sector",
     "Java", "Java (computer programming)\nprogramming"],
    ["KnowledgeSkillCompetence", STATS, "knowledge", "cross-sector",
     "statistics", "statistical analysis\nprogramming"],
    ["KnowledgeSkillCompetence", COOKING, "skill/competence", "transversal",
     "cooking", "prepare food | cook meals"],
]
RELATION_ROWS = [
    [DEV, "essential", "knowledge", PYTHON],
    [DEV, "essential", "knowledge", JAVA],
    [DEV, "optional", "knowledge", JAVA],   # a second row: a second edge
    [DS, "essential", "knowledge", PYTHON],
    [DS, "optional", "knowledge", STATS],
    [COOK, "essential", "skill/competence", COOKING],
    [GHOST, "optional", "skill/competence", COOKING],
]
# Nodes: skills 4 + G0, occupations 3 + GHOST, ISCO 2, other (ISCED) 1.
NODES_BY_TYPE = {"skill": 5, "occupation": 4, "isco": 2, "other": 1}
# Edges: 2 occupation → ISCO (cook's code is unknown), 1 hierarchy pair,
# 7 relation rows.
EDGES_BY_KIND = {"isco": 2, "hierarchy": 1, "essential": 4, "optional": 3}


def _write(path: pathlib.Path, header: list[str], rows: list[list[str]]):
  with path.open("w", encoding="utf-8", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(header)
    writer.writerows(rows)


def write_mini_esco(folder: pathlib.Path,
                    relations_file: str = "occupationSkillRelations.csv",
                    relation_rows: list[list[str]] | None = None
                    ) -> pathlib.Path:
  """Writes the sample folder in the official layout; returns `folder`.

  `relation_rows` replaces `RELATION_ROWS` in the relations file.
  """
  folder.mkdir(parents=True, exist_ok=True)
  _write(folder / "skills_en.csv",
         ["conceptType", "conceptUri", "skillType", "reuseLevel",
          "preferredLabel", "altLabels", "description"],
         [row + [""] for row in SKILL_ROWS])
  _write(folder / "occupations_en.csv",
         ["conceptType", "conceptUri", "iscoGroup", "preferredLabel",
          "altLabels"],
         [["Occupation", DEV, "2512", "software developer", "programmer"],
          ["Occupation", DS, "2120", "data scientist", ""],
          ["Occupation", COOK, "5120", "cook", ""]])
  _write(folder / "ISCOGroups_en.csv",
         ["conceptType", "conceptUri", "code", "preferredLabel"],
         [["ISCOGroup", f"{ESCO}/isco/C2512", "2512", "Software developers"],
          ["ISCOGroup", f"{ESCO}/isco/C2120", "2120", "Mathematicians"]])
  levels = []
  for i in range(4):
    levels += [f"Level {i} URI", f"Level {i} preferred term"]
  _write(folder / "skillsHierarchy_en.csv", levels + ["Description"],
         [[G0, "digital skills"] + [""] * 7,
          [G0, "digital skills", ISCED, "ICT"] + [""] * 5,
          [G0, "digital skills", ISCED, "ICT"] + [""] * 5])
  _write(folder / relations_file,
         ["occupationUri", "relationType", "skillType", "skillUri"],
         RELATION_ROWS if relation_rows is None else relation_rows)
  return folder
