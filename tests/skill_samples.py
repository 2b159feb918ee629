"""A tiny ESCO folder for the skill extractor tests.

The mini graph of `esco_samples` with its skills table replaced by skills
whose names and descriptions exercise the lexical matcher: "data" and
"management" occur in most descriptions (generic names), "Python",
"project management" and "cook meals" in few or none.
"""

from __future__ import annotations

import csv
import pathlib

import esco_samples

ESCO = esco_samples.ESCO
PYTHON = f"{ESCO}/skill/python"
DATA = f"{ESCO}/skill/data"
PM = f"{ESCO}/skill/project-management"
MANAGEMENT = f"{ESCO}/skill/management"
COOKING = f"{ESCO}/skill/cooking"
DOCKER = f"{ESCO}/skill/virtual-machines"

# uri, preferredLabel, altLabels, description
SKILLS = [
    (PYTHON, "Python", "python programming", "Write software in Python."),
    (DATA, "data", "", "Collect data for management of data and records."),
    (PM, "project management", "manage projects",
     "Management of projects, their data and budgets."),
    (MANAGEMENT, "management", "", "General management of data."),
    (COOKING, "cooking", "cook meals\nprepare food", "Prepare food."),
    (DOCKER, "manage ICT virtualisation machines", "docker",
     "Run virtual machines and manage their data."),
]


def write_skill_esco(folder: pathlib.Path) -> pathlib.Path:
  """Writes the folder; 6 skills, 11 label rows, 8 descriptions (6 skills,
  2 occupations: 'data' is in 6 of them, 'management' in 4)."""
  esco_samples.write_mini_esco(folder)
  with (folder / "skills_en.csv").open("w", encoding="utf-8",
                                       newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["conceptType", "conceptUri", "skillType", "reuseLevel",
                     "preferredLabel", "altLabels", "description"])
    for uri, label, alt, description in SKILLS:
      writer.writerow(["KnowledgeSkillCompetence", uri, "knowledge",
                       "cross-sector", label, alt, description])
  with (folder / "occupations_en.csv").open("w", encoding="utf-8",
                                            newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["conceptType", "conceptUri", "iscoGroup",
                     "preferredLabel", "altLabels", "description"])
    writer.writerow(["Occupation", esco_samples.DEV, "2512",
                     "software developer", "", "Builds software and data."])
    writer.writerow(["Occupation", esco_samples.DS, "2120", "data scientist",
                     "", "Analyses data for management."])
  return folder
